"""The operations console: one module per screen."""

from linx.admin import (  # noqa: F401 (each module registers its screens)
    app_list,
    audit,
    connections,
    dashboard,
    exaktime_records,
    failures,
    mappings,
    project_codes,
    reconciliations,
    reference,
    runs,
    schedules,
    users,
)
