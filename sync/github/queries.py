"""The GraphQL documents the sync sends; tests validate each ``*_QUERY`` against GitHub's schema.

GitHub: https://docs.github.com/graphql. Cost by GitHub's formula: a page of ``first`` pull
requests with nested reviews and commits is 1 + 2 x first connection requests, so 100 pull
requests cost 2 points. Pull requests come newest update first, so a sync can stop at a
high-water mark and a PR merged long after it was opened moves to the front.
"""

from __future__ import annotations

# Nested page sizes: what most pull requests fit in. Longer ones get a follow-up query, so
# nothing is silently cut.
NESTED_REVIEWS = 50
NESTED_COMMITS = 100
FOLLOW_UP_PAGE = 100

RATE_LIMIT_FIELDS = "rateLimit { cost limit remaining resetAt }"

# GraphQL names a bot by its app ("dependabot"); REST and our rows say "dependabot[bot]".
ACTOR_FIELDS = "author { __typename login }"

# fullDatabaseId (a BigInt, sent as a string): databaseId is deprecated and null past 32 bits.
REVIEW_FIELDS = f"fullDatabaseId state submittedAt {ACTOR_FIELDS}"

COMMIT_FIELDS = "commit { oid authoredDate additions deletions author { name user { login } } }"

PULL_REQUEST_FIELDS = f"""
        fullDatabaseId
        number
        title
        state
        isDraft
        createdAt
        updatedAt
        closedAt
        mergedAt
        additions
        deletions
        changedFiles
        {ACTOR_FIELDS}
        reviews(first: $reviews) {{
          totalCount
          pageInfo {{ hasNextPage endCursor }}
          nodes {{ {REVIEW_FIELDS} }}
        }}
        commits(first: $commits) {{
          totalCount
          pageInfo {{ hasNextPage endCursor }}
          nodes {{ {COMMIT_FIELDS} }}
        }}"""

PULL_REQUESTS_QUERY = f"""
query PullRequestPage(
  $owner: String!, $name: String!, $first: Int!, $after: String,
  $reviews: Int = {NESTED_REVIEWS}, $commits: Int = {NESTED_COMMITS}
) {{
  {RATE_LIMIT_FIELDS}
  repository(owner: $owner, name: $name) {{
    pullRequests(first: $first, after: $after, orderBy: {{field: UPDATED_AT, direction: DESC}}) {{
      totalCount
      pageInfo {{ hasNextPage endCursor }}
      nodes {{{PULL_REQUEST_FIELDS}
      }}
    }}
  }}
}}
"""

# Only update times and cursors: walks past pull requests newer than an "extend history"
# range at 1 point per 100 without transferring them.
PULL_REQUEST_TIMES_QUERY = f"""
query PullRequestTimes($owner: String!, $name: String!, $first: Int!, $after: String) {{
  {RATE_LIMIT_FIELDS}
  repository(owner: $owner, name: $name) {{
    pullRequests(first: $first, after: $after, orderBy: {{field: UPDATED_AT, direction: DESC}}) {{
      totalCount
      pageInfo {{ hasNextPage endCursor }}
      edges {{ cursor node {{ updatedAt }} }}
    }}
  }}
}}
"""

PULL_REQUEST_REVIEWS_QUERY = f"""
query PullRequestReviews($owner: String!, $name: String!, $number: Int!, $after: String) {{
  {RATE_LIMIT_FIELDS}
  repository(owner: $owner, name: $name) {{
    pullRequest(number: $number) {{
      reviews(first: {FOLLOW_UP_PAGE}, after: $after) {{
        totalCount
        pageInfo {{ hasNextPage endCursor }}
        nodes {{ {REVIEW_FIELDS} }}
      }}
    }}
  }}
}}
"""

PULL_REQUEST_COMMITS_QUERY = f"""
query PullRequestCommits($owner: String!, $name: String!, $number: Int!, $after: String) {{
  {RATE_LIMIT_FIELDS}
  repository(owner: $owner, name: $name) {{
    pullRequest(number: $number) {{
      commits(first: {FOLLOW_UP_PAGE}, after: $after) {{
        totalCount
        pageInfo {{ hasNextPage endCursor }}
        nodes {{ {COMMIT_FIELDS} }}
      }}
    }}
  }}
}}
"""


def page_cost(first: int) -> int:
    """Return GitHub's point cost of a PULL_REQUESTS_QUERY page of ``first`` pull requests."""
    requests = 1 + 2 * first
    return max(1, int(requests / 100 + 0.5))


# How many repositories one count query sizes: GitHub charges a query's connection requests /
# 100 (min 1 point), so a batch of 25 searches costs 1 point; a batch stays well inside the
# search API's own limits on one query.
COUNT_BATCH = 25


def count_query(repositories: int) -> str:
    """Return a query counting each repository's pull requests in a window (``$q0``, ``$q1`` …).

    GitHub's pull-request connection has no filter on update time, so the window's size comes
    from search (``repo:OWNER/NAME is:pr updated:>=SINCE``), one aliased search per repository.
    """
    variables = ", ".join(f"$q{i}: String!" for i in range(repositories))
    searches = "\n".join(
        f"  c{i}: search(type: ISSUE, query: $q{i}) {{ issueCount }}" for i in range(repositories)
    )
    return f"query PullRequestCounts({variables}) {{\n  {RATE_LIMIT_FIELDS}\n{searches}\n}}\n"


PULL_REQUEST_COUNTS_QUERY = count_query(COUNT_BATCH)

# One pull request, fully nested: what a webhook delivery names is read back from GitHub, so
# its row is GitHub's current state whatever order deliveries arrive in.
PULL_REQUEST_QUERY = f"""
query PullRequest(
  $owner: String!, $name: String!, $number: Int!,
  $reviews: Int = {NESTED_REVIEWS}, $commits: Int = {NESTED_COMMITS}
) {{
  {RATE_LIMIT_FIELDS}
  repository(owner: $owner, name: $name) {{
    pullRequest(number: $number) {{{PULL_REQUEST_FIELDS}
    }}
  }}
}}
"""

# The open pull requests of one head branch: a push names a branch, not a pull request.
PULL_REQUESTS_BY_HEAD_QUERY = f"""
query PullRequestsByHead(
  $owner: String!, $name: String!, $head: String!,
  $reviews: Int = {NESTED_REVIEWS}, $commits: Int = {NESTED_COMMITS}
) {{
  {RATE_LIMIT_FIELDS}
  repository(owner: $owner, name: $name) {{
    pullRequests(first: 10, headRefName: $head, states: [OPEN]) {{
      totalCount
      pageInfo {{ hasNextPage endCursor }}
      nodes {{{PULL_REQUEST_FIELDS}
      }}
    }}
  }}
}}
"""
