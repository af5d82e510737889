"""The domain: teams, their integrations and credentials, imported GitHub data, sync jobs."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from sync.fields import EncryptedTextField


class Team(models.Model):
    """An engineering team: one GitHub organization."""

    name = models.CharField(max_length=200)
    github_org_id = models.BigIntegerField(unique=True)
    github_org_login = models.CharField(max_length=100)
    avatar_url = models.URLField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # When the team's imported data last changed, and what changed it (sync/freshness.py).
    refreshed_at = models.DateTimeField(null=True, blank=True)
    refreshed_by = models.CharField(max_length=20, blank=True)

    def __str__(self) -> str:
        return self.github_org_login


class Membership(models.Model):
    class Role(models.TextChoices):
        ADMIN = "admin"
        MEMBER = "member"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "team"], name="one_membership")]


class IntegrationCredential(models.Model):
    """Tokens one user granted to one provider, encrypted at rest."""

    class Provider(models.TextChoices):
        GITHUB = "github"
        JIRA = "jira"
        SLACK = "slack"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    provider = models.CharField(max_length=20, choices=Provider.choices)
    access_token = EncryptedTextField()
    refresh_token = EncryptedTextField(null=True, blank=True)
    scopes = models.CharField(max_length=500, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    def __repr__(self) -> str:
        return f"<IntegrationCredential {self.pk} {self.provider} user={self.user_id}>"


class GitHubAccount(models.Model):
    """The GitHub identity a user signed in with."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="github_account"
    )
    github_id = models.BigIntegerField(unique=True)
    login = models.CharField(max_length=100)
    name = models.CharField(max_length=200, blank=True)
    avatar_url = models.URLField(max_length=500, blank=True)
    credential = models.ForeignKey(
        IntegrationCredential, null=True, blank=True, on_delete=models.SET_NULL
    )


class Integration(models.Model):
    """A team's connection to a provider, with the credential it uses."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        REVOKED = "revoked"
        ERROR = "error"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="integrations")
    provider = models.CharField(max_length=20, choices=IntegrationCredential.Provider.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    status_detail = models.CharField(max_length=500, blank=True)
    credential = models.ForeignKey(
        IntegrationCredential, null=True, blank=True, on_delete=models.SET_NULL
    )
    external_id = models.CharField(max_length=200, blank=True)
    config = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # GitHub only: the organization webhook that keeps the team fresh (sync.webhooks), and the
    # secret GitHub signs its deliveries with.
    webhook_id = models.BigIntegerField(null=True, blank=True)
    webhook_secret = EncryptedTextField(null=True, blank=True)
    webhook_registered_at = models.DateTimeField(null=True, blank=True)
    # The owner's credential (with admin:org_hook) that registered the hook: it reads the
    # hook's deliveries and redelivers them.
    webhook_credential = models.ForeignKey(
        IntegrationCredential,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["team", "provider"], name="one_integration_per_provider"
            )
        ]


class TeamMember(models.Model):
    """A GitHub identity in the team's organization (people and bots)."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="members")
    github_id = models.BigIntegerField()
    login = models.CharField(max_length=100)
    name = models.CharField(max_length=200, blank=True)
    avatar_url = models.URLField(max_length=500, blank=True)
    is_bot = models.BooleanField(default=False)
    role = models.CharField(max_length=20, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "github_id"], name="one_member_per_identity")
        ]
        indexes = [models.Index(fields=["team", "login"])]


# GitHub names every deleted account "ghost" (GraphQL sends null for it).
GHOST_LOGIN = "ghost"
DELETED_USER = "deleted user"


class TrackedRepository(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="repositories")
    github_id = models.BigIntegerField()
    full_name = models.CharField(max_length=300)
    private = models.BooleanField(default=False)
    archived = models.BooleanField(default=False)
    pushed_at = models.DateTimeField(null=True, blank=True)
    # The imported range of PR update times: [synced_until, high_water_mark].
    synced_until = models.DateTimeField(null=True, blank=True)
    high_water_mark = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # When GitHub stopped knowing the repository (deleted, or no longer visible to the token).
    deleted_at = models.DateTimeField(null=True, blank=True)
    # When an admin removed it from tracking and kept its data (sync.services.remove_repository):
    # imports and webhooks leave it out, and so do the overview and its insights.
    untracked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "github_id"], name="one_repo_per_team")
        ]

    def __str__(self) -> str:
        return self.full_name


class PullRequest(models.Model):
    class State(models.TextChoices):
        OPEN = "open"
        CLOSED = "closed"
        MERGED = "merged"

    repository = models.ForeignKey(
        TrackedRepository, on_delete=models.CASCADE, related_name="pull_requests"
    )
    github_id = models.BigIntegerField(unique=True)
    number = models.IntegerField()
    title = models.CharField(max_length=1000)
    state = models.CharField(max_length=10, choices=State.choices)
    draft = models.BooleanField(default=False)
    author = models.ForeignKey(TeamMember, null=True, blank=True, on_delete=models.SET_NULL)
    author_login = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    merged_at = models.DateTimeField(null=True, blank=True)
    additions = models.IntegerField(default=0)
    deletions = models.IntegerField(default=0)
    changed_files = models.IntegerField(default=0)
    # When an import last read it from GitHub, and when a complete import no longer found it.
    seen_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["repository", "updated_at"])]

    @property
    def author_display(self) -> str:
        """Name the author as people read it: GitHub's "ghost" is a deleted account."""
        return DELETED_USER if self.author_login == GHOST_LOGIN else self.author_login


class Review(models.Model):
    pull_request = models.ForeignKey(PullRequest, on_delete=models.CASCADE, related_name="reviews")
    github_id = models.BigIntegerField(unique=True)
    author = models.ForeignKey(TeamMember, null=True, blank=True, on_delete=models.SET_NULL)
    author_login = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=20)
    submitted_at = models.DateTimeField(null=True, blank=True)


class Commit(models.Model):
    pull_request = models.ForeignKey(PullRequest, on_delete=models.CASCADE, related_name="commits")
    sha = models.CharField(max_length=40)
    author = models.ForeignKey(TeamMember, null=True, blank=True, on_delete=models.SET_NULL)
    author_login = models.CharField(max_length=100, blank=True)
    author_name = models.CharField(max_length=200, blank=True)
    authored_at = models.DateTimeField(null=True, blank=True)
    additions = models.IntegerField(default=0)
    deletions = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pull_request", "sha"], name="one_commit_per_pr")
        ]


class SyncJob(models.Model):
    class Kind(models.TextChoices):
        INITIAL = "initial"
        INCREMENTAL = "incremental"
        FULL = "full"
        EXTEND = "extend"
        RETRY = "retry"
        # An incremental sync the scheduled sweep started for repositories that changed.
        SWEEP = "sweep"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        WAITING = "waiting"
        SUCCEEDED = "succeeded"
        PARTIAL = "partial"
        FAILED = "failed"
        CANCELLED = "cancelled"

    FINISHED = (Status.SUCCEEDED, Status.PARTIAL, Status.FAILED, Status.CANCELLED)

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="sync_jobs")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.INITIAL)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    history_since = models.DateTimeField(null=True, blank=True)
    history_until = models.DateTimeField(null=True, blank=True)
    repos_total = models.IntegerField(default=0)
    repos_done = models.IntegerField(default=0)
    prs_total = models.IntegerField(default=0)
    prs_synced = models.IntegerField(default=0)
    reviews_synced = models.IntegerField(default=0)
    commits_synced = models.IntegerField(default=0)
    rate_limit_reset_at = models.DateTimeField(null=True, blank=True)
    eta_seconds = models.IntegerField(null=True, blank=True)
    # When eta_seconds was estimated: the next estimate is smoothed against it.
    eta_at = models.DateTimeField(null=True, blank=True)
    # The percent shown: it never decreases and reaches 100 only when the job succeeds.
    percent = models.IntegerField(default=0)
    # When every repository's window was sized (None: still counting, or not started).
    counted_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # When "run it now" (or the watchdog) last sent the job's messages again.
    resumed_at = models.DateTimeField(null=True, blank=True)
    # A first import takes every repository's pull requests updated since this line before
    # any older page (None: no recent phase), and records when all of them were stored.
    recent_since = models.DateTimeField(null=True, blank=True)
    recent_ready_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=50, blank=True)
    error_message = models.CharField(max_length=1000, blank=True)
    # GitHub rate-limit points the job spent (GraphQL cost + REST requests).
    github_points = models.IntegerField(default=0)
    version = models.BigIntegerField(default=0)

    ACTIVE = (Status.QUEUED, Status.RUNNING, Status.WAITING)
    # Kinds that import what changed since the high-water mark.
    INCREMENTAL_KINDS = (Kind.INCREMENTAL, Kind.SWEEP)

    class Meta:
        indexes = [models.Index(fields=["team", "-created_at"]), models.Index(fields=["status"])]
        constraints = [
            models.UniqueConstraint(
                fields=["team"],
                condition=models.Q(status__in=["queued", "running", "waiting"]),
                name="one_active_sync_per_team",
            )
        ]

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED


class RepoSync(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        WAITING = "waiting"
        RETRYING = "retrying"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    job = models.ForeignKey(SyncJob, on_delete=models.CASCADE, related_name="repo_syncs")
    repository = models.ForeignKey(TrackedRepository, on_delete=models.CASCADE)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    cursor = models.CharField(max_length=500, blank=True)
    pages_done = models.IntegerField(default=0)
    prs_total = models.IntegerField(null=True, blank=True)
    # Pull requests in this sync's window: counted before the import, refined by its pages.
    prs_expected = models.IntegerField(null=True, blank=True)
    # Of those, the ones updated since the job's ``recent_since`` (None: no recent phase, or not
    # counted): sizes a recent phase's first page.
    recent_expected = models.IntegerField(null=True, blank=True)
    prs_synced = models.IntegerField(default=0)
    reviews_synced = models.IntegerField(default=0)
    commits_synced = models.IntegerField(default=0)
    items_skipped = models.IntegerField(default=0)
    skipped_detail = models.JSONField(default=list, blank=True)
    attempts = models.IntegerField(default=0)
    retry_at = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=50, blank=True)
    error_message = models.CharField(max_length=1000, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The window of PR update times this sync imports: [since, until] (None: open-ended).
    since = models.DateTimeField(null=True, blank=True)
    until = models.DateTimeField(null=True, blank=True)
    # A cap on the page size while GitHub times out on this repository (0: none), and the
    # pages answered at that cap since it was last changed (sync.engine.adaptive).
    page_cap = models.PositiveSmallIntegerField(default=0)
    pages_at_cap = models.PositiveSmallIntegerField(default=0)
    # The newest and oldest PR update times seen so far (high-water mark, ETA, extend phase).
    newest_seen = models.DateTimeField(null=True, blank=True)
    oldest_seen = models.DateTimeField(null=True, blank=True)
    # The highest page a message was sent for: lets a redelivered message restart a lost chain
    # without starting a second one.
    dispatched_page = models.IntegerField(default=-1)
    # When this repository's pull requests down to its job's ``recent_since`` were all stored
    # (a page reached past the line, or the repository finished).
    recent_done_at = models.DateTimeField(null=True, blank=True)
    version = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "repository"], name="one_repo_sync_per_job")
        ]

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED


class AuditEvent(models.Model):
    """Who did what to which team, from the staff pages."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL)
    action = models.CharField(max_length=50)
    params = models.JSONField(default=dict, blank=True)
    outcome = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["team", "-created_at"])]


class SyncNotice(models.Model):
    """The Slack message about one finished sync job: posted once, with what became of it."""

    class Status(models.TextChoices):
        SENDING = "sending"
        SENT = "sent"
        FAILED = "failed"

    job = models.OneToOneField(SyncJob, on_delete=models.CASCADE, related_name="notice")
    channel_id = models.CharField(max_length=50)
    text = models.TextField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.SENDING)
    error_code = models.CharField(max_length=50, blank=True)
    message_ts = models.CharField(max_length=50, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)


class WebhookDelivery(models.Model):
    """One delivery GitHub sent to /webhooks/github/: accepted once per id, or refused, and why.

    Accepted deliveries are unique on GitHub's delivery id (``X-GitHub-Delivery``); refused
    ones (unsigned, wrongly signed, oversize) are kept too, without their body, for the staff
    page and the audit of what was tried.
    """

    class Status(models.TextChoices):
        QUEUED = "queued"  # recorded, its actor not done yet
        APPLIED = "applied"
        IGNORED = "ignored"  # an event or a repository the team does not track
        FAILED = "failed"  # applying it failed for good; the sweep catches up
        REFUSED = "refused"  # never accepted: see status_code and reason

    ACCEPTED = (Status.QUEUED, Status.APPLIED, Status.IGNORED, Status.FAILED)

    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.CASCADE, related_name="webhook_deliveries"
    )
    guid = models.CharField(max_length=100, blank=True)
    event = models.CharField(max_length=50, blank=True)
    action = models.CharField(max_length=50, blank=True)
    hook_id = models.BigIntegerField(null=True, blank=True)
    installation_id = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices)
    status_code = models.PositiveSmallIntegerField()
    reason = models.CharField(max_length=500, blank=True)
    size = models.IntegerField(default=0)
    payload = models.JSONField(null=True, blank=True)
    # Later deliveries with the same id (GitHub's retries, a replay): answered, not applied.
    duplicates = models.IntegerField(default=0)
    received_at = models.DateTimeField(default=timezone.now)
    applied_at = models.DateTimeField(null=True, blank=True)
    attempts = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["guid"],
                condition=~models.Q(status="refused"),
                name="one_accepted_delivery_per_guid",
            )
        ]
        indexes = [models.Index(fields=["team", "-received_at"])]
