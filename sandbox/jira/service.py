"""The sandbox Jira over HTTP: Atlassian's authorization server and its API gateway.

Atlassian runs these on two hosts; the sandbox mounts them under two prefixes of its one host:

    /atlassian/      = https://auth.atlassian.com  GET/POST /authorize, POST /oauth/token
    /atlassian-api/  = https://api.atlassian.com   GET /oauth/token/accessible-resources,
                                                   GET /ex/jira/{cloudid}/rest/api/3/project/search

Atlassian: https://developer.atlassian.com/cloud/jira/platform/oauth-2-3lo-apps/ and
https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-projects/#api-rest-api-3-project-search-get.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urlencode

from sandbox.jira.world import AVATAR, KNOWN_SCOPES, Jira, Project
from sandbox.server import Request, Response
from sandbox.standin import StandInService, bearer, client_credentials, page, with_query

AUTH_PREFIX = "/atlassian"
API_PREFIX = "/atlassian-api"
AUDIENCE = "api.atlassian.com"
DEFAULT_PAGE = 50
MAX_PAGE = 100
_SEARCH = re.compile(r"^/ex/jira/(?P<cloud>[^/]+)/rest/api/3/project/search/?$")
_UNAUTHORIZED = {"code": 401, "message": "Unauthorized"}
_SCOPE_MISMATCH = {"code": 401, "message": "Unauthorized; scope does not match"}
CONTROL_API = """\
Jira (OAuth app sandbox-jira-client-id / sandbox-jira-client-secret; sites "acme" with six
projects and "acme-labs" with two; access tokens live 3600 s and codes 600 s on the sandbox
clock (POST /_sandbox/clock); refresh tokens rotate, with Atlassian's 10-minute reuse leeway):
  GET    /_sandbox/jira/counters              requests by endpoint/status/token
  POST   /_sandbox/jira/revoke                {token?: access or refresh token} revokes that
                                              grant; {site: cloud id} withdraws the app from
                                              that site only (tokens live on, the site leaves
                                              accessible-resources); {}: the user removes the
                                              app (every token and site grant)
"""


class JiraService(StandInService):
    """Answer ``/atlassian/...`` and ``/atlassian-api/...`` against ``sandbox.jira``."""

    @property
    def jira(self) -> Jira:
        return self.sandbox.jira  # type: ignore[attr-defined,no-any-return]

    @property
    def world(self) -> Jira:
        return self.jira

    def endpoint(self, request: Request) -> str:
        path = re.sub(r"/ex/jira/[^/]+/", "/ex/jira/{cloudid}/", request.path)
        return f"{request.method} {path}"

    def answer(self, request: Request) -> Response:
        token = bearer(request)
        if request.path.startswith(f"{AUTH_PREFIX}/"):
            path = request.path.removeprefix(AUTH_PREFIX)
            if path == "/authorize" and request.method == "GET":
                return self.authorize_page(request.form())
            if path == "/authorize" and request.method == "POST":
                return self.decide(request.form())
            if path == "/oauth/token" and request.method == "POST":
                return self.token(request)
            return Response.html(404, page("Not found", "<h1>Page not found</h1>"))
        path = request.path.removeprefix(API_PREFIX)
        if path == "/oauth/token/accessible-resources" and request.method == "GET":
            return self.accessible_resources(token)
        found = _SEARCH.match(path)
        if found and request.method == "GET":
            return self.project_search(request, token, found["cloud"])
        return Response.json(404, {"code": 404, "message": "Not Found"})

    # -- authorize ---------------------------------------------------------------------------

    def _authorize_problem(self, fields: dict[str, str]) -> Response | None:
        problems = []
        if fields.get("audience") != AUDIENCE:
            problems.append(f"audience must be {AUDIENCE}")
        if fields.get("client_id") != self.jira.client_id:
            problems.append("unknown client_id")
        if fields.get("response_type") != "code":
            problems.append("response_type must be code")
        if not fields.get("redirect_uri"):
            problems.append("redirect_uri is required")
        scopes = fields.get("scope", "").split()
        if not scopes or any(s not in KNOWN_SCOPES for s in scopes):
            problems.append("scope is missing or names an unknown scope")
        if not problems:
            return None
        items = "".join(f"<li>{html.escape(p)}</li>" for p in problems)
        body = f"      <h1>Something went wrong</h1>\n      <ul>{items}</ul>"
        return Response.html(400, page("Atlassian: invalid request", body))

    def authorize_page(self, fields: dict[str, str]) -> Response:
        """Show the consent screen: the scopes, a site to use the app on, Accept and Cancel."""
        problem = self._authorize_problem(fields)
        if problem is not None:
            return problem
        keep = ("audience", "client_id", "scope", "redirect_uri", "state", "response_type")
        hidden = {k: fields.get(k, "") for k in keep}
        options = "".join(
            f'<option value="{s.id}">{html.escape(s.name)} ({html.escape(s.url)})</option>'
            for s in self.jira.sites
        )
        return self.consent_page(
            title=f"Authorize {self.app_name}",
            heading=f"{self.app_name} is requesting access to your Atlassian account",
            action=f"{AUTH_PREFIX}/authorize",
            fields=hidden,
            scopes=hidden["scope"].split(),
            extra=f'        <label>Use app on <select name="site">{options}</select></label>\n',
            accept=("accept", "Accept"),
        )

    def decide(self, fields: dict[str, str]) -> Response:
        """Redirect back with a code (Accept) or ``access_denied`` (Cancel), with the state."""
        problem = self._authorize_problem(fields)
        if problem is not None:
            return problem
        uri, state = fields["redirect_uri"], fields.get("state", "")
        if fields.get("decision") != "accept":
            query = {
                "error": "access_denied",
                "error_description": "User did not authorize the request",
                "state": state,
            }
            return Response.redirect(with_query(uri, query))
        site = self.jira.site(fields.get("site", "")) or self.jira.sites[0]
        code = self.jira.grant(
            site_id=site.id,
            client_id=fields["client_id"],
            redirect_uri=uri,
            scopes=tuple(dict.fromkeys(fields["scope"].split())),
        )
        return Response.redirect(with_query(uri, {"code": code, "state": state}))

    # -- token endpoint ----------------------------------------------------------------------

    def token(self, request: Request) -> Response:
        """``POST /oauth/token``: authorization_code and refresh_token grants (JSON or form)."""
        fields = request.form()
        client_id, secret = client_credentials(request, fields)
        if client_id != self.jira.client_id or secret != self.jira.client_secret:
            return Response.json(
                401, {"error": "access_denied", "error_description": "Unauthorized"}
            )
        grant_type = fields.get("grant_type")
        if grant_type == "authorization_code":
            answer = self.jira.exchange(
                code=fields.get("code", ""), redirect_uri=fields.get("redirect_uri")
            )
        elif grant_type == "refresh_token":
            answer = self.jira.refresh(refresh_token=fields.get("refresh_token", ""))
        else:
            body = {
                "error": "unsupported_grant_type",
                "error_description": "Unsupported grant type",
            }
            return Response.json(400, body)
        return Response.json(answer.status, answer.body, {"Cache-Control": "no-store"})

    # -- API gateway ---------------------------------------------------------------------------

    def accessible_resources(self, token: str | None) -> Response:
        if token is None or self.jira.scopes_for(token) is None:
            return Response.json(401, _UNAUTHORIZED)
        return Response.json(
            200,
            [
                {
                    "id": site.id,
                    "url": site.url,
                    "name": site.name,
                    "scopes": [s for s in scopes if s != "offline_access"],
                    "avatarUrl": AVATAR,
                }
                for site, scopes in self.jira.accessible_sites()
            ],
        )

    def project_search(self, request: Request, token: str | None, cloud_id: str) -> Response:
        scopes = self.jira.scopes_for(token) if token else None
        granted = {site.id for site, _ in self.jira.accessible_sites()}
        if scopes is None or cloud_id not in granted:
            return Response.json(401, _UNAUTHORIZED)
        if "read:jira-work" not in scopes:
            return Response.json(401, _SCOPE_MISMATCH)
        site = self.jira.site(cloud_id)
        assert site is not None
        try:
            start = max(0, int(request.arg("startAt") or 0))
            size = min(MAX_PAGE, max(1, int(request.arg("maxResults") or DEFAULT_PAGE)))
        except ValueError:
            return Response.json(400, {"errorMessages": ["Invalid startAt or maxResults"]})
        query = (request.arg("query") or "").lower()
        projects = [p for p in site.projects if query in p.key.lower() or query in p.name.lower()]
        base = f"{request.base_url}{API_PREFIX}/ex/jira/{cloud_id}/rest/api/3"
        chunk = projects[start : start + size]
        is_last = start + size >= len(projects)
        body: dict[str, object] = {
            "self": f"{base}/project/search?{urlencode({'maxResults': size, 'startAt': start})}",
            "maxResults": size,
            "startAt": start,
            "total": len(projects),
            "isLast": is_last,
            "values": [_project_json(p, base) for p in chunk],
        }
        if not is_last:
            query_next = urlencode({"maxResults": size, "startAt": start + size})
            body["nextPage"] = f"{base}/project/search?{query_next}"
        return Response.json(200, body)

    # -- control ---------------------------------------------------------------------------------

    def control(self, request: Request) -> Response:
        """``/_sandbox/jira/...``: counters and token revocation."""
        path = request.path.removeprefix("/_sandbox/jira").rstrip("/")
        if path == "/counters" and request.method == "GET":
            return Response.json(200, self.jira.recorder.snapshot())
        if path == "/revoke" and request.method == "POST":
            try:
                data = request.json() if request.body else {}
            except ValueError:
                return Response.json(400, {"error": "the body is not JSON"})
            fields = data if isinstance(data, dict) else {}
            token, site = fields.get("token"), fields.get("site")
            try:
                if site:
                    self.jira.remove_site(str(site))
                    return Response.json(200, {"removed_site": site})
                revoked = self.jira.revoke(str(token) if token else None)
            except KeyError as error:
                return Response.json(404, {"error": str(error).strip("'\"")})
            return Response.json(200, {"revoked": revoked})
        return Response.json(404, {"error": f"no control endpoint {request.method} {request.path}"})


def _project_json(project: Project, base: str) -> dict[str, object]:
    avatar = f"{base}/universal_avatar/view/type/project/avatar/{project.id}"
    return {
        "self": f"{base}/project/{project.id}",
        "id": project.id,
        "key": project.key,
        "name": project.name,
        "avatarUrls": {
            size: f"{avatar}?size={size}" for size in ("48x48", "24x24", "16x16", "32x32")
        },
        "projectTypeKey": project.type_key,
        "simplified": project.simplified,
        "style": "next-gen" if project.simplified else "classic",
        "isPrivate": project.private,
        "properties": {},
    }
