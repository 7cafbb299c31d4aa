"""The demo region: Siegen and Olpe, three companies, four guides and one account of each role."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import City, Company, Role, User
from .security import hash_password

DEMO_PASSWORD = "tourbook-demo"  # noqa: S105 - published in the README on purpose
DEMO_DOMAIN = "@demo.example"

CITIES = [
    dict(name="Siegen", slug="siegen", office_phone="+49 271 404-0", office_email="touren@siegen.demo.example"),
    dict(name="Olpe", slug="olpe", office_phone="+49 2761 83-0", office_email="touren@olpe.demo.example"),
]
COMPANIES = [
    dict(name="Hüttenwerk Siegerland GmbH", address="Hüttenstraße 12, 57072 Siegen"),
    dict(name="Medizintechnik Weidenau AG", address="Weidenauer Straße 170, 57076 Siegen"),
    dict(name="Rothaar Software KG", address="Koblenzer Straße 45, 57072 Siegen"),
]
# email, name, role, city slug, company index, language
ACCOUNTS = [
    ("admin@demo.example", "Anna Admin", Role.ADMIN, None, None, "de"),
    ("coordinator@demo.example", "Clara Koordination", Role.COORDINATOR, "siegen", None, "de"),
    ("coordinator.olpe@demo.example", "Otto Olpe", Role.COORDINATOR, "olpe", None, "de"),
    ("guide@demo.example", "Gisela Gästeführerin", Role.GUIDE, "siegen", None, "de"),
    ("guide2@demo.example", "Hakan Yılmaz", Role.GUIDE, "siegen", None, "de"),
    ("guide3@demo.example", "Emily Carter", Role.GUIDE, "siegen", None, "en"),
    ("guide4@demo.example", "Paul Dubois", Role.GUIDE, "siegen", None, "de"),
    ("hr@demo.example", "Hanna Personal", Role.HR, None, 0, "de"),
    ("hr2@demo.example", "Max Recruiting", Role.HR, None, 1, "en"),
]
# Languages each demo guide guides in (issue: guides' hours).
GUIDE_LANGUAGES = {
    "guide@demo.example": ("de", "en"),
    "guide2@demo.example": ("de", "tr", "en"),
    "guide3@demo.example": ("en",),
    "guide4@demo.example": ("de", "fr"),
}


class NotADemoDatabase(Exception):
    pass


def _check_only_demo_data(session: Session) -> None:
    foreign_users = session.execute(select(User.email).where(User.email.not_like(f"%{DEMO_DOMAIN}"))).scalars().all()
    foreign_cities = session.execute(
        select(City.slug).where(City.slug.not_in([c["slug"] for c in CITIES]))
    ).scalars().all()
    foreign_companies = session.execute(
        select(Company.name).where(Company.name.not_in([c["name"] for c in COMPANIES]))
    ).scalars().all()
    if foreign_users or foreign_cities or foreign_companies:
        raise NotADemoDatabase(
            "This database holds data that is not demo data "
            f"({len(foreign_users)} accounts, {len(foreign_cities)} cities, {len(foreign_companies)} companies). "
            "The demo is only loaded into an empty or demo database."
        )


def load_demo(session: Session) -> str:
    _check_only_demo_data(session)
    created: list[str] = []
    cities: dict[str, City] = {}
    for data in CITIES:
        city = session.execute(select(City).where(City.slug == data["slug"])).scalar_one_or_none()
        if city is None:
            city = City(**data)
            session.add(city)
            created.append(f"city {data['slug']}")
        cities[data["slug"]] = city
    companies: list[Company] = []
    for data in COMPANIES:
        company = session.execute(select(Company).where(Company.name == data["name"])).scalar_one_or_none()
        if company is None:
            company = Company(**data)
            company.cities.append(cities["siegen"])
            session.add(company)
            created.append(f"company {data['name']}")
        companies.append(company)
    session.flush()
    password_hash = None
    for email, name, role, city_slug, company_index, language in ACCOUNTS:
        if session.execute(select(User.id).where(User.email == email)).scalar_one_or_none() is not None:
            continue
        password_hash = password_hash or hash_password(DEMO_PASSWORD)
        session.add(
            User(
                email=email, name=name, role=role, language=language, active=True, password_hash=password_hash,
                city=cities[city_slug] if city_slug else None,
                company=companies[company_index] if company_index is not None else None,
            )
        )
        created.append(f"account {email}")
    session.flush()
    for hook in EXTRA_DEMO_STEPS:
        created.extend(hook(session, cities, companies))
    session.commit()
    return "demo region ready" + (": created " + ", ".join(created) if created else " (nothing new)")


# Later features add their demo data here (a callable returning what it created).
EXTRA_DEMO_STEPS: list = []
