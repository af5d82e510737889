from __future__ import annotations

from django.urls import path

from onboarding.views import complete, github, jira, orgs, progress, repos, slack, start

app_name = "onboarding"
urlpatterns = [
    path("start/", start.start, name="start"),
    path("sign-out/", start.sign_out, name="sign_out"),
    path("github/connect/", github.connect, name="github_connect"),
    path("github/callback/", github.callback, name="github_callback"),
    path("select-org/", orgs.select_org, name="select_org"),
    path("select-org/choose/", orgs.choose_org, name="choose_org"),
    path("select-repos/", repos.select_repos, name="select_repos"),
    path("select-repos/list/", repos.repository_list, name="repository_list"),
    path("select-repos/submit/", repos.submit_repos, name="submit_repos"),
    path("jira/", jira.jira_step, name="jira"),
    path("jira/connect/", jira.connect, name="jira_connect"),
    path("jira/callback/", jira.callback, name="jira_callback"),
    path("jira/projects/", jira.projects, name="jira_projects"),
    path("slack/", slack.slack_step, name="slack"),
    path("slack/connect/", slack.connect, name="slack_connect"),
    path("slack/callback/", slack.callback, name="slack_callback"),
    path("slack/channel/", slack.channel, name="slack_channel"),
    path("complete/", complete.complete, name="complete"),
    path("complete/sync/", complete.start_incremental_sync, name="start_incremental_sync"),
    path("sync/<int:job_id>/", progress.sync_progress, name="sync"),
    path("sync/<int:job_id>/cancel/", progress.sync_cancel, name="sync_cancel"),
    path("sync/<int:job_id>/retry/", progress.sync_retry, name="sync_retry"),
    path("sync/<int:job_id>/run-now/", progress.sync_run_now, name="sync_run_now"),
    path("sync/<int:job_id>/reconnect/", progress.sync_reconnect, name="sync_reconnect"),
]
