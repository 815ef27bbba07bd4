"""The structure's private contacts (CRM), with consents traced per purpose; never shared beyond the node."""
