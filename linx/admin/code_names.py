"""A Procore project's own cost codes, named as a person knows them ("03-3010 Concrete Labor").

Linx keeps each project's cost code list (`ProjectReference`, see `linx.sync.reference`)
as the project's code ids by company cost code and by full code; the names come from the
company's cost codes as imported (their mappings). Deleted codes are not kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from linx.models import Connection, EntityMapping, EntityType, ProjectReference, ReferenceKind


@dataclass(frozen=True)
class ProjectCode:
    procore_id: int  # the project's own code, not the company's
    full_code: str
    name: str  # "" when Linx never imported the company's code
    in_exaktime: bool  # the company's code is linked to an ExakTime cost code

    @property
    def label(self) -> str:
        return f"{self.full_code} {self.name}".strip()


class CompanyCodes:
    """A connection's imported company cost codes, to name a project's codes by."""

    def __init__(self, connection_id: int) -> None:
        self.by_standard: dict[int, EntityMapping] = {}
        self.by_full_code: dict[str, EntityMapping] = {}
        for mapping in EntityMapping.objects.filter(
            connection_id=connection_id, entity_type=EntityType.COST_CODE
        ).only("procore_id", "exaktime_id", "name", "data"):
            if mapping.procore_id is not None:
                self.by_standard[mapping.procore_id] = mapping
            if mapping.full_code:
                self.by_full_code.setdefault(mapping.full_code, mapping)

    def codes_of(self, data: dict) -> list[ProjectCode]:
        """A kept cost code list (``ProjectReference.data``) as codes, by full code."""
        full_codes = {code_id: full for full, code_id in (data.get("by_full_code") or {}).items()}
        standards = {code_id: int(std) for std, code_id in (data.get("by_standard") or {}).items()}
        codes = []
        for code_id in full_codes.keys() | standards.keys():
            mapping = self.by_standard.get(standards.get(code_id)) or self.by_full_code.get(
                full_codes.get(code_id)
            )
            full = full_codes.get(code_id) or (mapping.full_code if mapping else None) or ""
            codes.append(ProjectCode(code_id, full, _name(mapping, full), _linked(mapping)))
        return sorted(codes, key=lambda code: (code.full_code, code.name, code.procore_id))


def _name(mapping: EntityMapping | None, full_code: str) -> str:
    """The company code's name without the full code its mapping's name starts with."""
    if mapping is None:
        return ""
    name = mapping.name or ""
    prefix = mapping.full_code or full_code
    return name[len(prefix) :].strip() if prefix and name.startswith(prefix) else name


def _linked(mapping: EntityMapping | None) -> bool:
    return mapping is not None and mapping.exaktime_id is not None


def code_labels(connection: Connection, code_ids: Iterable[int], projects: Iterable[int]):
    """Project cost code id → "01-100 General Conditions", for the ids Linx can name.

    Looked for in the kept lists of ``projects`` first, then in every list the connection
    keeps (an updated entry's changes need not name its project)."""
    wanted, projects, labels = set(code_ids), set(projects), {}
    if not wanted:
        return labels
    kept = ProjectReference.objects.filter(connection=connection, kind=ReferenceKind.COST_CODES)
    company = CompanyCodes(connection.pk)
    for lists in (kept.filter(project_id__in=projects), kept.exclude(project_id__in=projects)):
        for reference in lists.only("data"):
            for code in company.codes_of(reference.data or {}):
                if code.procore_id in wanted:
                    labels[code.procore_id] = code.label
        if wanted <= labels.keys():
            break
    return labels
