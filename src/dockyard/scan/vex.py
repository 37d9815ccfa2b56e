"""OpenVEX: statements that a product is ``not_affected`` by (or ``fixed`` for) a vulnerability."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote

from dockyard.errors import ConfigError
from dockyard.scan.match import Finding

__all__ = [
    "PackageURL",
    "VexDocument",
    "VexStatement",
    "apply_vex",
    "parse_openvex",
    "parse_purl",
]

STATUSES = ("not_affected", "affected", "fixed", "under_investigation")
SUPPRESSING = frozenset({"not_affected", "fixed"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class PackageURL:
    """A parsed ``pkg:type/namespace/name@version?qualifiers#subpath`` (components decoded)."""

    type: str
    namespace: str
    name: str
    version: str = ""
    qualifiers: tuple[tuple[str, str], ...] = ()

    def matches(self, other: PackageURL) -> bool:
        """Whether this (statement) purl names ``other`` (a package's purl): same type,
        namespace and name; the same version unless this one has none; its qualifiers a
        subset of the other's.
        """
        if (self.type, self.namespace, self.name) != (other.type, other.namespace, other.name):
            return False
        if self.version and self.version != other.version:
            return False
        return set(self.qualifiers) <= set(other.qualifiers)


# types whose namespace and name the purl specification lowercases
_CASE_INSENSITIVE = frozenset({"deb", "apk", "pypi", "npm", "github", "bitbucket", "oci"})


def _normalise(kind: str, text: str) -> str:
    if kind == "pypi":
        text = re.sub(r"[-_.]+", "-", text)
    return text.lower() if kind in _CASE_INSENSITIVE else text


def parse_purl(text: str) -> PackageURL | None:
    """Parse a package URL; None when ``text`` is not one (a product may be named otherwise)."""
    if not text.startswith("pkg:"):
        return None
    rest = text[4:].lstrip("/")
    rest = rest.split("#", 1)[0]
    rest, _, query = rest.partition("?")
    kind, sep, path = rest.partition("/")
    if not sep or not kind or not path:
        return None
    kind = kind.lower()
    path, _, version = path.rpartition("@") if "@" in path else (path, "", "")
    segments = [unquote(s) for s in path.strip("/").split("/") if s]
    if not segments:
        return None
    qualifiers = []
    for pair in query.split("&") if query else []:
        key, _, value = pair.partition("=")
        if key and value:
            qualifiers.append((key.lower(), unquote(value)))
    return PackageURL(
        type=kind,
        namespace=_normalise(kind, "/".join(segments[:-1])),
        name=_normalise(kind, segments[-1]),
        version=unquote(version),
        qualifiers=tuple(sorted(qualifiers)),
    )


@dataclass(frozen=True, slots=True)
class VexStatement:
    """One statement: the vulnerability (its name and aliases), the products it is about
    (their purls, with subcomponents), the status and when it was made.
    """

    vulnerability_ids: frozenset[str]
    products: tuple[PackageURL, ...]
    subcomponents: tuple[PackageURL, ...]
    status: str
    timestamp: datetime
    justification: str = ""
    index: int = 0  # position in the document: the later of two equal timestamps wins


@dataclass(frozen=True, slots=True)
class VexDocument:
    """A parsed OpenVEX document."""

    id: str
    statements: tuple[VexStatement, ...]
    location: str = ""

    def statement_for(
        self, finding: Finding, image_digests: Iterable[str] = ()
    ) -> VexStatement | None:
        """The latest statement about ``finding`` (its package matched by purl, or an image
        product, by digest, with the package among its subcomponents); None if none.
        """
        package = parse_purl(finding.package.purl)
        if package is None:
            return None
        ids = {finding.vulnerability_id, *finding.aliases}
        digests = set(image_digests)
        found = []
        for statement in self.statements:
            if not statement.vulnerability_ids & ids:
                continue
            if _applies(statement, package, digests):
                found.append(statement)
        if not found:
            return None
        return max(found, key=lambda s: (s.timestamp, s.index))


def _applies(statement: VexStatement, package: PackageURL, digests: set[str]) -> bool:
    subcomponent_ok = not statement.subcomponents or any(
        sub.matches(package) for sub in statement.subcomponents
    )
    for product in statement.products:
        if product.matches(package) and subcomponent_ok:
            return True
        # the image as the product (pkg:oci/NAME@sha256:...), the package a subcomponent
        if (
            product.type == "oci"
            and product.version in digests
            and statement.subcomponents
            and subcomponent_ok
        ):
            return True
    return False


def apply_vex(
    findings: Iterable[Finding], document: VexDocument, image_digests: Iterable[str] = ()
) -> list[Finding]:
    """The findings that no ``not_affected`` or ``fixed`` statement suppresses."""
    digests = tuple(image_digests)
    kept = []
    for finding in findings:
        statement = document.statement_for(finding, digests)
        if statement is None or statement.status not in SUPPRESSING:
            kept.append(finding)
    return kept


def _time(value: object, location: str) -> datetime | None:
    if not value:
        return None
    if not isinstance(value, str):
        raise ConfigError(f"bad timestamp {value!r}", location=location)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ConfigError(
            f"bad timestamp {value!r}", location=location, hint="use RFC 3339"
        ) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _purls(entries: object, where: str, *, key: str) -> list[PackageURL]:
    """Products or subcomponents: strings (OpenVEX 0.0.x) or objects with ``@id`` and
    ``identifiers.purl`` (0.2.0). Entries that are not package URLs are kept out.
    """
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise ConfigError(f"{key} must be a list", location=where)
    found = []
    for entry in entries:
        names: list[str] = []
        if isinstance(entry, str):
            names.append(entry)
        elif isinstance(entry, dict):
            if isinstance(entry.get("@id"), str):
                names.append(entry["@id"])
            identifiers = entry.get("identifiers")
            if isinstance(identifiers, dict) and isinstance(identifiers.get("purl"), str):
                names.append(identifiers["purl"])
        else:
            raise ConfigError(f"a {key} entry must be a string or an object", location=where)
        for name in names:
            purl = parse_purl(name)
            if purl is not None:
                found.append(purl)
    return found


def _subcomponents(products: object) -> list[object]:
    subs: list[object] = []
    if isinstance(products, list):
        for product in products:
            if isinstance(product, dict) and isinstance(product.get("subcomponents"), list):
                subs.extend(product["subcomponents"])
    return subs


def parse_openvex(text: str, location: str = "") -> VexDocument:
    """Parse an OpenVEX JSON document (0.0.x or 0.2.0); ConfigError names what is wrong."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not JSON: {exc.msg} at line {exc.lineno}", location=location) from exc
    if not isinstance(document, dict) or "statements" not in document:
        raise ConfigError(
            "not an OpenVEX document (no statements)",
            location=location,
            hint="dockyard reads OpenVEX JSON (https://openvex.dev/ns)",
        )
    context = str(document.get("@context", ""))
    if context and "openvex" not in context:
        raise ConfigError(f"not an OpenVEX document: @context {context!r}", location=location)
    default_time = _time(document.get("timestamp"), location) or _EPOCH
    raw = document["statements"]
    if not isinstance(raw, list):
        raise ConfigError("statements must be a list", location=location)
    statements = []
    for index, entry in enumerate(raw):
        where = f"{location}: statements[{index}]" if location else f"statements[{index}]"
        if not isinstance(entry, dict):
            raise ConfigError("a statement must be an object", location=where)
        status = entry.get("status")
        if status not in STATUSES:
            raise ConfigError(
                f"bad status {status!r}", location=where, hint="one of " + ", ".join(STATUSES)
            )
        vulnerability = entry.get("vulnerability")
        ids: set[str] = set()
        if isinstance(vulnerability, str):
            ids.add(vulnerability)
        elif isinstance(vulnerability, dict):
            for key in ("name", "@id"):
                if isinstance(vulnerability.get(key), str):
                    ids.add(vulnerability[key])
            aliases = vulnerability.get("aliases") or []
            ids.update(a for a in aliases if isinstance(a, str))
        for alias in entry.get("aliases") or []:  # 0.0.x put them on the statement
            if isinstance(alias, str):
                ids.add(alias)
        if not ids:
            raise ConfigError("a statement without a vulnerability", location=where)
        products = entry.get("products")
        subcomponents = _purls(entry.get("subcomponents"), where, key="subcomponents")
        subcomponents += _purls(_subcomponents(products), where, key="subcomponents")
        statements.append(
            VexStatement(
                vulnerability_ids=frozenset(ids),
                products=tuple(_purls(products, where, key="products")),
                subcomponents=tuple(subcomponents),
                status=status,
                timestamp=_time(entry.get("timestamp"), where) or default_time,
                justification=str(entry.get("justification", "")),
                index=index,
            )
        )
    return VexDocument(
        id=str(document.get("@id", "")), statements=tuple(statements), location=location
    )
