from __future__ import annotations

from django.urls import path

from onboarding.providers import STEPS
from onboarding.views import complete, github, orgs, progress, providers, repos, start, webhooks

app_name = "onboarding"
urlpatterns = [
    path("start/", start.start, name="start"),
    path("sign-out/", start.sign_out, name="sign_out"),
    path("github/connect/", github.connect, name="github_connect"),
    path("github/callback/", github.callback, name="github_callback"),
    path("select-org/", orgs.select_org, name="select_org"),
    path("select-org/list/", orgs.organization_list, name="organization_list"),
    path("select-org/choose/", orgs.choose_org, name="choose_org"),
    path("select-repos/", repos.select_repos, name="select_repos"),
    path("select-repos/list/", repos.repository_list, name="repository_list"),
    path("select-repos/submit/", repos.submit_repos, name="submit_repos"),
    path("webhooks/", webhooks.webhook_step, name="webhooks"),
    path("webhooks/authorize/", webhooks.authorize, name="webhook_authorize"),
    path("webhooks/register/", webhooks.register, name="webhook_register"),
    path("complete/", complete.complete, name="complete"),
    path("complete/sync/", complete.start_incremental_sync, name="start_incremental_sync"),
    path(
        "complete/repositories/<int:repository_id>/remove/",
        complete.remove_repository,
        name="remove_repository",
    ),
    path("sync/<int:job_id>/", progress.sync_progress, name="sync"),
    path("sync/<int:job_id>/cancel/", progress.sync_cancel, name="sync_cancel"),
    path("sync/<int:job_id>/retry/", progress.sync_retry, name="sync_retry"),
    path("sync/<int:job_id>/run-now/", progress.sync_run_now, name="sync_run_now"),
    path("sync/<int:job_id>/reconnect/", progress.sync_reconnect, name="sync_reconnect"),
]

# Each optional provider's step: /onboarding/<name>/, connect/, callback/, disconnect/, and its
# pick page with the list it loads (jira/projects/, slack/channel/).
for _step in STEPS.values():
    _name, _pick = _step.name, _step.pick_path
    _kwargs = {"name": _name}
    urlpatterns += [
        path(f"{_name}/", providers.step_page, _kwargs, name=_name),
        path(f"{_name}/connect/", providers.connect, _kwargs, name=f"{_name}_connect"),
        path(f"{_name}/callback/", providers.callback, _kwargs, name=f"{_name}_callback"),
        path(f"{_name}/disconnect/", providers.disconnect, _kwargs, name=f"{_name}_disconnect"),
        path(f"{_name}/{_pick}/", providers.pick, _kwargs, name=f"{_name}_{_pick}"),
        path(f"{_name}/{_pick}/list/", providers.pick_list, _kwargs, name=f"{_name}_{_pick}_list"),
    ]
