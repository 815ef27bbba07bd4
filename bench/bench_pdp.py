"""Decisions per second of our decision point vs cedarpy and pycasbin on equivalent policies.

The policy, written three ways:
* licensed professionals of category 2 or 3 may read, for the purpose `programming`;
* a named partner organisation may read;
* redistribution is prohibited (a prohibition wins).

Ours: `policies.pdp.decide(subject, action, ResourceRef(venue dataset of the owner), Context)`, the
policy saved through `policies.services.save_policy` (ODRL, our profile) and compiled once per
policy generation, subjects built once (as a request builds its `Subject`). This is the decision a
guarded list makes once per (policy, subject); blocks are memoised on the subject as in a request.
cedarpy: `cedarpy.is_authorized` with a pre-parsed `PolicySet` and `Entities` (principals carry
`licensed`, `categories`, `organisation`; the purpose is in the context). pycasbin: an ABAC model
(`eval(p.sub_rule) && r.act == p.act`, allow-override with deny) with the three rules as policy
lines. The same request mix (9 requests: permits and denies of each kind) runs on the three, and
the three must agree on every decision before anything is measured.

Ratios: ours ÷ cedarpy, ours ÷ pycasbin, and ours ÷ the faster of the two (DESIGN.md §8: ≥ 1).
Details add `decide()` on a record (which also looks up the subject's break-glass accesses in the
database, and hidden records when some exist: one or two indexed queries), for information.

Usage: python bench/bench_pdp.py            (all databases; JSON result lines)
       python bench/bench_pdp.py --child    (internal: one database, from DATABASE_URL)
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # run as a script from anywhere: `dataspace` must import

import harness  # noqa: E402 - bench/ is the script's own directory

ROUNDS = 5
DECISIONS = 4_000  # per round and engine (the mix repeated)
WARMUP = 500
GOAL = ">= 1"

CEDAR_POLICIES = """
permit(principal, action == Action::"read", resource)
when { principal.licensed && principal.categories.containsAny([2, 3]) && context.purpose == "programming" };
permit(principal, action == Action::"read", resource) when { principal.organisation == "%(partner)s" };
forbid(principal, action == Action::"redistribute", resource);
"""
CASBIN_MODEL = """
[request_definition]
r = sub, act, purpose
[policy_definition]
p = sub_rule, act, eft
[policy_effect]
e = some(where (p.eft == allow)) && !some(where (p.eft == deny))
[matchers]
m = eval(p.sub_rule) && r.act == p.act
"""

#: (principal, action, purpose, expected permit)
MIX: list[tuple[str, str, str, bool]] = [
    ("licensed-2", "read", "programming", True),
    ("licensed-3", "read", "programming", True),
    ("licensed-1", "read", "programming", False),
    ("licensed-2", "read", "research", False),
    ("unlicensed", "read", "programming", False),
    ("partner", "read", "programming", True),
    ("partner", "redistribute", "programming", False),
    ("anonymous", "read", "", False),
    ("licensed-2", "redistribute", "programming", False),
]


# ---------------------------------------------------------------------------- parent: one child per database


def _run_child(database: str, database_url: str, data_dir: Path) -> dict[str, Any]:
    return harness.run_child(__file__, "--child", database, database_url, data_dir)


def main() -> int:
    for result in harness.on_each_database("bench-pdp-", _run_child):
        if result.get("skipped"):
            for name in ("pdp-vs-cedarpy", "pdp-vs-pycasbin", "pdp-vs-faster"):
                print(json.dumps({"name": name, "capability": "policy decisions", "goal": GOAL, **result}))
            continue
        rates = result.pop("rates")
        details = result.pop("details")
        figures = {
            "pdp-vs-cedarpy": ("cedarpy", rates["cedarpy"]),
            "pdp-vs-pycasbin": ("pycasbin", rates["pycasbin"]),
            "pdp-vs-faster": ("the faster of cedarpy and pycasbin", max(rates["cedarpy"], rates["pycasbin"])),
        }
        for name, (peer, baseline) in figures.items():
            line = {
                "name": name,
                "capability": "policy decisions",
                "figure": f"decide() decisions/s vs {peer} on equivalent policies (same request mix)",
                "goal": GOAL,
                "unit": "/s",
                "measured": round(rates["ours"], 1),
                "baseline": round(baseline, 1),
                "ratio": round(rates["ours"] / baseline, 3),
                "details": details,
                **result,
            }
            print(json.dumps(line, ensure_ascii=False))
    return 0


# ---------------------------------------------------------------------------- child: one database


class _CasbinSubject:
    """pycasbin's ABAC subject: attributes read by the matcher's eval()."""

    def __init__(self, licensed: bool, category: int, organisation: str) -> None:
        self.licensed = licensed
        self.category = category
        self.organisation = organisation


def child() -> int:
    import django

    django.setup()
    import datetime as dt
    import uuid

    import casbin
    import cedarpy
    from casbin import model as casbin_model
    from django.core.management import call_command
    from django.db import connection

    from dataspace.directory.profiles import LicenceFact, ProfessionalProfile
    from dataspace.referentials.models import Organisation, Venue
    from policies import pdp
    from policies.language import Constraint, PolicyDoc, Rule
    from policies.odrl import to_odrl
    from policies.services import bump_policy_generation, save_policy
    from policies.subject import ANONYMOUS, Subject

    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    owner = Organisation.objects.create(name="Théâtre du Banc d'Essai")
    partner = Organisation.objects.create(name="Scène partenaire")
    venue = Venue.objects.create(owner=owner, name="Grande salle", city="Lyon")
    rules = (
        Rule(
            "permission",
            ("read",),
            (
                Constraint("licensed", "eq", True),
                Constraint("licenceCategory", "isAnyOf", (2, 3)),
                Constraint("purpose", "isAnyOf", ("programming",)),
            ),
        ),
        Rule("permission", ("read",), (Constraint("organisation", "isAnyOf", (str(partner.pk),)),)),
        Rule("prohibition", ("redistribute",)),
    )
    document = to_odrl(PolicyDoc(uid="", rules=rules), target="urn:bench", assigner="")
    save_policy(owner=owner, target_type="venue", odrl=document)
    bump_policy_generation()
    setup_s = time.perf_counter() - started

    now = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)

    def professional(*categories: int) -> Subject:
        licences = tuple(
            LicenceFact(f"{c}-PLATESV-D-2025-00000{c}", c, "valide", dt.date(2030, 1, 1), dt.date(2025, 1, 1))
            for c in categories
        )
        profile = ProfessionalProfile(
            account_id=1, organisation_id=uuid.uuid4(), organisation_name="Compagnie", licences=licences
        )
        return Subject(kind="person", user_id=100 + sum(categories), username="pro", professional=profile)

    ours_subjects: dict[str, Subject] = {
        "licensed-1": professional(1),
        "licensed-2": professional(2),
        "licensed-3": professional(3),
        "unlicensed": professional(),
        "partner": Subject(kind="client", client_id="partner-app", acts_for=frozenset({partner.pk})),
        "anonymous": ANONYMOUS,
    }
    attributes = {
        "licensed-1": (True, 1, ""),
        "licensed-2": (True, 2, ""),
        "licensed-3": (True, 3, ""),
        "unlicensed": (False, 0, ""),
        "partner": (False, 0, str(partner.pk)),
        "anonymous": (False, 0, ""),
    }

    # ours
    dataset = pdp.ResourceRef(record_type="venue", record_id=None, owner_id=owner.pk)
    contexts = {purpose: pdp.Context(purpose=purpose, now=now) for purpose in ("programming", "research", "")}
    ours_mix = [(ours_subjects[name], action, contexts[purpose]) for name, action, purpose, _ in MIX]

    def ours() -> list[bool]:
        return [pdp.decide(subject, action, dataset, context).permitted for subject, action, context in ours_mix]

    record_mix = [(ours_subjects[name], action, contexts[purpose]) for name, action, purpose, _ in MIX]

    def ours_on_record() -> list[bool]:
        return [pdp.decide(subject, action, venue, context).permitted for subject, action, context in record_mix]

    # cedarpy
    policy_set = cedarpy.PolicySet.from_str(CEDAR_POLICIES % {"partner": partner.pk})
    entities = [
        {
            "uid": {"type": "User", "id": name},
            "attrs": {"licensed": licensed, "categories": [category] if category else [], "organisation": org},
            "parents": [],
        }
        for name, (licensed, category, org) in attributes.items()
    ] + [{"uid": {"type": "Venue", "id": str(venue.pk)}, "attrs": {}, "parents": []}]
    cedar_entities = cedarpy.Entities.from_json_str(json.dumps(entities))
    cedar_mix = [
        {
            "principal": f'User::"{name}"',
            "action": f'Action::"{action}"',
            "resource": f'Venue::"{venue.pk}"',
            "context": {"purpose": purpose},
        }
        for name, action, purpose, _ in MIX
    ]

    def cedar() -> list[bool]:
        return [cedarpy.is_authorized(request, policy_set, cedar_entities).allowed for request in cedar_mix]

    # pycasbin
    model = casbin_model.Model()
    model.load_model_from_text(CASBIN_MODEL)
    enforcer = casbin.Enforcer(model)
    enforcer.add_policy(
        "r.sub.licensed == True && (r.sub.category == 2 || r.sub.category == 3) && r.purpose == 'programming'",
        "read",
        "allow",
    )
    enforcer.add_policy(f"r.sub.organisation == '{partner.pk}'", "read", "allow")
    enforcer.add_policy("1 == 1", "redistribute", "deny")
    casbin_subjects = {name: _CasbinSubject(*values) for name, values in attributes.items()}
    casbin_mix = [(casbin_subjects[name], action, purpose) for name, action, purpose, _ in MIX]

    def casbin_decide() -> list[bool]:
        return [bool(enforcer.enforce(subject, action, purpose)) for subject, action, purpose in casbin_mix]

    expected = [permit for *_, permit in MIX]
    answers = {"ours": ours(), "ours on a record": ours_on_record(), "cedarpy": cedar(), "pycasbin": casbin_decide()}
    for engine, answer in answers.items():
        if answer != expected:
            raise RuntimeError(f"{engine} disagrees with the expected decisions: {answer} != {expected}")

    engines = {"ours": ours, "cedarpy": cedar, "pycasbin": casbin_decide}
    loops = DECISIONS // len(MIX)
    for function in engines.values():
        for _ in range(WARMUP // len(MIX)):
            function()
    per_round: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(ROUNDS):
        for name, function in engines.items():
            per_round[name].append(harness.rate(function, loops) * len(MIX))
    rates = {name: statistics.median(values) for name, values in per_round.items()}
    record_rate = harness.rate(ours_on_record, max(loops // 4, 1)) * len(MIX)
    record_queries = harness.count_queries(ours_on_record)
    dataset_queries = harness.count_queries(ours)
    print(
        json.dumps(
            {
                "database": os.environ.get("BENCH_DATABASE", connection.vendor),
                "rates": rates,
                "details": {
                    "request mix": f"{len(MIX)} requests ({sum(expected)} permits), same answers on the three engines",
                    "ours decisions/s (median)": round(rates["ours"], 1),
                    "cedarpy decisions/s (median)": round(rates["cedarpy"], 1),
                    "pycasbin decisions/s (median)": round(rates["pycasbin"], 1),
                    "ours per round": " / ".join(f"{r:,.0f}" for r in per_round["ours"]),
                    "cedarpy per round": " / ".join(f"{r:,.0f}" for r in per_round["cedarpy"]),
                    "pycasbin per round": " / ".join(f"{r:,.0f}" for r in per_round["pycasbin"]),
                    "queries per mix, dataset decisions (blocks memoised per subject)": dataset_queries,
                    "ours on a record (break-glass looked up; hidden records only when some exist) decisions/s": round(
                        record_rate, 1
                    ),
                    "queries per mix on a record": record_queries,
                    "rounds": f"{ROUNDS} x {loops * len(MIX)} decisions per engine (+{WARMUP} warm-up)",
                    "setup (migrate + policy) s": round(setup_s, 1),
                },
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(child() if "--child" in sys.argv else main())
