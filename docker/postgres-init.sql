-- One database per node of the compose federation (run once, when the postgres volume is empty).
CREATE DATABASE structure_a;
CREATE DATABASE structure_b;
CREATE DATABASE registry;
