"""What each profile field is called where a person reads it: 用房总面积（m²） for ``space.total_area_m2``.

The collection workbook heads its columns with these names, and messages name a
field by them (in Chinese; English messages name the key itself, as the systems
that write profiles know it). Every name is a message of the catalogue.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from .i18n import Message, cmsg, msg, quote

#: dotted profile key (list indices left out: ``space.zones.area_m2``) → its name
FIELDS: Mapping[str, Message] = {
    "schema_version": msg("profile format version"),
    "center": msg("centre"),
    "center.id": msg("centre id"),
    "center.name": msg("centre name"),
    "center.community": msg("community"),
    "center.region": msg("region"),
    "center.region.province": msg("province"),
    "center.region.city": msg("city"),
    "center.region.district": msg("district or county"),
    "center.region.street": msg("street or town"),
    "center.setting": msg("urban or rural"),
    "center.housing": msg("housing type"),
    "center.assessed_on": msg("date of the inspection"),
    "population": msg("population"),
    "population.households": msg("households"),
    "population.residents": msg("residents"),
    "space": msg("premises"),
    "space.total_area_m2": msg("total floor area (m²)"),
    "space.service_hall_floor": msg("floor of the service hall"),
    "space.open_plan": msg("open plan without counters"),
    "space.zones": msg("functional zones"),
    "space.zones.kind": msg("zone type"),
    "space.zones.area_m2": msg("zone area (m²)"),
    "space.zones.name": msg("zone name"),
    "signage": msg("signs"),
    "amenities": msg("amenities"),
    "staff": msg("staff"),
    "staff.community_workers": msg("full-time community workers (persons)"),
    "staff.certified_social_workers": msg("certified social workers (persons)"),
    "staff.college_educated": msg("college educated (persons)"),
    "staff.uniform_badges": msg("uniform work badges"),
    "staff.ab_backup": msg("A/B backup for every post"),
    "staff.grid_workers": msg("full-time grid workers (persons)"),
    "services": msg("services"),
    "services.single_window": msg("single-window acceptance"),
    "services.first_inquiry_responsibility": msg("first-inquiry responsibility"),
    "services.weekly_opening_hours": msg("opening hours a week"),
    "services.after_hours_service": msg("service outside office hours"),
    "services.feedback_loop": msg("closed feedback loop"),
    "services.grid_coverage": msg("grid coverage (%)"),
    "services.satisfaction_rate": msg("satisfaction (%)"),
    "services.grids": msg("grids"),
    "services.task_list_posted": msg("community task list posted"),
    "services.tasks_outside_list": msg("tasks outside the list (last 12 months)"),
    "services.key_group_register": msg("registers of key groups"),
    "services.deliberation_sessions_12m": msg("resident deliberation days (last 12 months)"),
    "services.legal_service_days_12m": msg("days a lawyer served on site (last 12 months)"),
    "services.volunteers": msg("registered volunteers (persons)"),
    "audit": msg("audit"),
    "audit.kind": msg("self-check or inspection"),
    "audit.inspectors": msg("inspectors"),
    "audit.responsible": msg("responsible person of the centre"),
    "audit.round": msg("audit round"),
    "evidence": msg("evidence"),
    "evidence.file": msg("evidence file"),
    "evidence.sha256": msg("evidence SHA-256"),
    "evidence.note": msg("evidence note"),
    "evidence.taken_on": msg("date the evidence was taken"),
}

#: the choices of a field that has them: code → its name
CHOICES: Mapping[str, Mapping[str, Message]] = {
    "center.setting": {"urban": msg("urban"), "rural": msg("rural")},
    "center.housing": {"old": msg("old compound"), "commercial": msg("commercial housing"),
                       "resettlement": msg("resettlement compound"), "mixed": msg("mixed")},
    "audit.kind": {"self_check": msg("self-check"), "inspection": msg("inspection")},
}

#: vocabulary → what one of its codes is
VOCABULARY_NAMES: Mapping[str, Message] = {
    "zone_kinds": msg("zone type"),
    "signage": msg("sign"),
    "amenities": msg("amenity"),
    "feedback_stages": msg("feedback-loop stage"),
    "key_groups": msg("key group"),
}


def dotted(path: Sequence[str | int]) -> str:
    """``("space", "zones", 2, "area_m2")`` → ``space.zones.area_m2``."""
    return ".".join(str(p) for p in path if not isinstance(p, int))


def field_name(path: Sequence[str | int]) -> Message | None:
    """The name of the field at ``path``, or None when it has none (an unknown key)."""
    return FIELDS.get(dotted(path))


def named(path: Sequence[str | int]) -> Message:
    """The field at ``path`` as a message names it: its Chinese name in Chinese, its key in English
    (``'population'``); a key with no name is quoted in both."""
    key = str(path[-1]) if path and not isinstance(path[-1], int) else dotted(path)
    name = field_name(path)
    if name is None:
        return msg("{key}", key=quote(key))
    # Translators: a field of a profile; English names it by its key, Chinese by its name ({name})
    return cmsg("named field", "{key}", key=quote(key), name=name)
