from __future__ import annotations

from urllib.parse import urlsplit

import requests

from sandbox.testing import RunningSandbox, SandboxControl


def _get(url: str) -> requests.Response:
    return requests.get(url, timeout=10)


def test_it_serves_an_image_at_every_avatar_url_its_payloads_give(
    sandbox: RunningSandbox, control: SandboxControl, mona_token: str
) -> None:
    headers = {"Authorization": f"Bearer {mona_token}"}
    org = requests.get(f"{sandbox.api_url}/orgs/acme", headers=headers, timeout=10).json()
    members = requests.get(
        f"{sandbox.api_url}/orgs/acme/members", headers=headers, timeout=10
    ).json()
    urls = [org["avatar_url"]] + [member["avatar_url"] for member in members]
    assert len(urls) > 3

    images = []
    for url in urls:
        # GitHub's shape: /avatars/u/<id>?v=4, on the host the API names.
        assert urlsplit(url).path.startswith("/avatars/u/") and url.endswith("?v=4")
        answer = _get(f"{url}&s=40")
        assert answer.status_code == 200
        assert answer.headers["Content-Type"] == "image/svg+xml"
        assert answer.text.startswith("<svg") and 'width="40"' in answer.text
        images.append(answer.text)
    assert len(set(images)) == len(images)  # each account its own
    assert _get(f"{urls[0]}&s=40").text == images[0]  # and the same every time


def test_it_answers_404_for_what_is_not_an_avatar(sandbox: RunningSandbox) -> None:
    assert _get(f"{sandbox.url}/avatars/u/not-an-id").status_code == 404
