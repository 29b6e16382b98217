"""Regenerate the example project's seed and the sandbox's contacts (deterministic).

    python example_project/scripts/make_data.py

The seed is a Customer360-style table whose emails carry the mess real CRMs export (case, spaces, mailto:,
display names, invisible characters, typos, quoted local parts, blanks, duplicates). About 70% of the customers
already exist in HubSpot (the sandbox's contacts.csv); the rest come back `not_found`.
"""

from __future__ import annotations

import csv
import random
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
N_CUSTOMERS = 600
FIRST = "Ada Grace Alan Edsger Barbara Donald Frances Ken Margaret Dennis Radia Tim Linus Guido Shafi Leslie".split()
LAST = "Lovelace Hopper Turing Dijkstra Liskov Knuth Allen Thompson Hamilton Ritchie Perlman Berners-Lee".split()
DOMAINS = ["example.com", "acme.io", "globex.co.uk", "initech.net", "umbrella.org", "hooli.design", "stark.de"]
COMPANIES = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark Industries", None]


def messy(clean: str, rng: random.Random) -> str | None:
    """A raw CRM value whose cleanup gives `clean` (or an invalid one, on purpose)."""
    local, domain = clean.split("@")
    kind = rng.random()
    if kind < 0.70:
        return clean
    variants = [
        clean.upper(),
        f"  {clean} ",
        f"\t{clean}",
        f"mailto:{clean}",
        f"MAILTO:{clean}?subject=Hi",
        f"<{clean}>",
        f"{local.title()} <{clean}>",
        f'"{local.title()}" <{clean}>',
        f"{clean}\u200b",
        f"\ufeff{clean}",
        f"{local}\uff20{domain}",
        f"{clean}\u00a0",
        f"{clean}.",
        f"{clean};",
        f"{local.capitalize()}@{domain.upper()}",
    ]
    invalid = [
        None,
        "",
        "   ",
        f"{local}@{domain.rsplit('.', 1)[0]}.con",
        f'"{local}"@{domain}',
        f"{local} {local}@{domain}",
        f"{local}@@{domain}",
        f"{local}",
        f"{local}@{domain.split('.')[0]}",
        f"{local}..x@{domain}",
        f"{clean}, other@{domain}",
        "n/a",
    ]
    return rng.choice(variants) if kind < 0.92 else rng.choice(invalid)


def main() -> None:
    rng = random.Random(20261128)
    customers = []
    for i in range(1, N_CUSTOMERS + 1):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        clean = f"{first.lower()}.{last.lower().replace('-', '')}{i}@{rng.choice(DOMAINS)}"
        customers.append(
            {
                "amperity_id": f"amp-{i:05d}",
                "first_name": first,
                "last_name": last,
                "email": messy(clean, rng),
                "clean_email": clean,
                "phone": f"+1-555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}",
                "company": rng.choice(COMPANIES) or "",
                "lifetime_value": f"{rng.randint(0, 500000) / 100:.2f}",
                "is_vip": rng.random() < 0.1,
                "last_order_date": (date(2026, 1, 1) + timedelta(days=rng.randint(0, 300))).isoformat(),
                "updated_at": datetime(2026, 11, 1, tzinfo=timezone.utc)
                + timedelta(minutes=rng.randint(0, 40000)),
            }
        )
    # The same person exported twice (e.g. from two source systems): cleanup makes the emails equal.
    for src in rng.sample(customers, 12):
        twin = dict(src, amperity_id=f"amp-{len(customers) + 1:05d}", email=src["clean_email"].upper())
        customers.append(twin)

    with (HERE / "seeds" / "customers.csv").open("w", newline="", encoding="utf-8") as fh:
        cols = ["amperity_id", "first_name", "last_name", "email", "phone", "company", "lifetime_value",
                "is_vip", "last_order_date", "updated_at"]
        w = csv.writer(fh)
        w.writerow(cols)
        for c in customers:
            row = dict(c, email="" if c["email"] is None else c["email"],
                       is_vip="true" if c["is_vip"] else "false",
                       updated_at=c["updated_at"].strftime("%Y-%m-%d %H:%M:%S"))
            w.writerow([row[k] for k in cols])

    # HubSpot already knows ~70% of the people (once each), some under differently-cased emails.
    originals = customers[:N_CUSTOMERS]
    known = sorted(rng.sample(range(N_CUSTOMERS), int(N_CUSTOMERS * 0.7)))
    with (HERE / "sandbox" / "contacts.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["hs_object_id", "email", "firstname", "lastname", "amperity_id", "lifetime_value",
                    "is_vip", "last_order_date", "lifecyclestage"])
        for n, i in enumerate(known, start=1001):
            c = originals[i]
            email = c["clean_email"] if rng.random() < 0.8 else c["clean_email"].title()
            w.writerow([n, email, c["first_name"], "", "", "", "", "", "lead"])


if __name__ == "__main__":
    main()
