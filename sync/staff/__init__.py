"""Staff operations on every team's sync, for the staff pages (``/staff/syncs/``).

- ``lookups``: the staff-only, permission-checked lookups of teams, jobs and repositories;
- ``directory``: the team list (filters, search, a page's rows) and what a team page shows;
- ``actions``: sync now, full resync, extend history, resync one repository, retry failed,
  cancel, run now: each a ``sync.services`` call whose audit row says what came of it;
- ``audit``: the audit log, filtered.

Nothing here talks to GitHub.
"""
