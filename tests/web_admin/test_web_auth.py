"""Signing in to the web dashboard: one-time links, sessions, ADMIN_IDS on every request, CSRF, no data without."""

from __future__ import annotations

import re

import pytest

from aistudio.config import load_settings
from aistudio.web.admin import ROUTES
from tests.web_admin.conftest import Dashboard
from tests.web_admin.seed import seed_known_figures

MODEL = "google/nano-banana"


def concrete(path: str) -> str:
    return path.replace("{user_id}", "1").replace("{ref}", "RQ-AAAAAAA1")


async def test_a_link_signs_in_once_with_a_strict_http_only_cookie(dash: Dashboard) -> None:
    token = await dash.link_token()

    first = await dash.client.get("/admin/login", params={"token": token})
    overview = await dash.client.get("/admin/")
    again = await dash.client.get("/admin/login", params={"token": token})

    assert first.status == 200
    cookie = first.headers["Set-Cookie"]
    assert all(part in cookie for part in ("HttpOnly", "SameSite=Strict", "Path=/admin"))
    assert "Secure" not in cookie  # http base URL; https turns it on
    assert token not in cookie
    assert overview.status == 200 and (await overview.text()).count("<svg") == 4
    assert again.status == 403 and "уже использована" in await again.text()


@pytest.mark.parametrize(("minutes", "words"), [(11, "истёк"), (0, "Такой ссылки нет")])
async def test_an_expired_or_unknown_link_is_refused(dash: Dashboard, minutes: int, words: str) -> None:
    token = await dash.link_token() if minutes else "not-a-token"
    dash.later(minutes=minutes)

    response = await dash.client.get("/admin/login", params={"token": token})

    assert response.status == 403 and words in await response.text()
    assert "Set-Cookie" not in response.headers
    assert (await dash.client.get("/admin/", allow_redirects=False)).status == 303


async def test_a_link_for_someone_no_longer_admin_is_refused(dash: Dashboard) -> None:
    token = await dash.link_token()
    dash.services.settings = load_settings(admin_ids="7")

    response = await dash.client.get("/admin/login", params={"token": token})

    assert response.status == 403 and "нет доступа" in await response.text()


async def test_a_session_ends_when_it_expires(dash: Dashboard) -> None:
    await dash.sign_in()
    assert (await dash.client.get("/admin/", allow_redirects=False)).status == 200

    dash.later(hours=2, seconds=1)
    response = await dash.client.get("/admin/", allow_redirects=False)

    assert response.status == 303 and response.headers["Location"] == "/admin/login"


async def test_a_session_ends_when_the_admin_leaves_admin_ids(dash: Dashboard) -> None:
    csrf = await dash.sign_in()
    dash.services.settings = load_settings(admin_ids="7")

    page = await dash.client.get("/admin/users", params={"q": "Boss"}, allow_redirects=False)
    post = await dash.client.post("/admin/models/toggle", data={"csrf": csrf, "model_id": MODEL, "enabled": "0"})

    assert page.status == 303 and post.status == 403
    assert not dash.services.overrides.is_switched_off(MODEL)


async def test_logout_deletes_the_session(dash: Dashboard) -> None:
    csrf = await dash.sign_in()
    cookie = dash.client.session.cookie_jar.filter_cookies(dash.client.make_url("/admin/"))["aistudio_admin"].value

    response = await dash.client.post("/admin/logout", data={"csrf": csrf})
    dash.client.session.cookie_jar.update_cookies({"aistudio_admin": cookie})  # replaying the old cookie
    after = await dash.client.get("/admin/", allow_redirects=False)

    assert response.status == 200 and "Вы вышли" in await response.text()
    assert after.status == 303


@pytest.mark.parametrize("csrf", [None, "forged"])
async def test_a_form_without_the_right_csrf_token_is_refused(dash: Dashboard, csrf: str | None) -> None:
    real = await dash.sign_in()
    form = {"model_id": MODEL, "enabled": "0"} | ({"csrf": csrf} if csrf else {})

    refused = await dash.client.post("/admin/models/toggle", data=form, allow_redirects=False)
    accepted = await dash.client.post("/admin/models/toggle", data=form | {"csrf": real}, allow_redirects=False)

    assert refused.status == 403 and "Форма устарела" in await refused.text()
    assert accepted.status == 303 and dash.services.overrides.is_switched_off(MODEL)
    assert (await dash.client.post("/admin/logout", data={}, allow_redirects=False)).status == 403


async def test_no_route_answers_without_a_session(dash: Dashboard) -> None:
    await seed_known_figures(dash.engine)
    for method, path, _ in ROUTES:
        if path == "/login":
            continue
        response = await dash.client.request(method, "/admin" + concrete(path), allow_redirects=False)
        body = await response.text()

        if method == "GET":
            assert (response.status, response.headers.get("Location")) == (303, "/admin/login"), path
        else:
            assert response.status == 403, path
        assert not re.search(r"RQ-AAAA|Alice|alice|m/a", body), path
    login = await dash.client.get("/admin/login")
    assert login.status == 401 and "/web" in await login.text()


async def test_every_page_renders_for_a_signed_in_admin(dash: Dashboard) -> None:
    await seed_known_figures(dash.engine)
    await dash.sign_in()
    for method, path, _ in ROUTES:
        if method != "GET" or path == "/login":
            continue
        response = await dash.client.get("/admin" + concrete(path))
        assert response.status == 200, path
    card = await (await dash.client.get("/admin/users/1")).text()
    assert "Alice" in card and "@alice" in card


async def test_exports_stream_csv_with_the_filters_applied(dash: Dashboard) -> None:
    await seed_known_figures(dash.engine)
    await dash.sign_in()

    by_model = await dash.client.get("/admin/export/generations.csv", params={"model": "m/a"})
    errors = await dash.client.get("/admin/export/errors.csv")
    found = await (await dash.client.get("/admin/generations", params={"rq": "aaaaaaa2"})).text()

    rows = (await by_model.text()).splitlines()
    assert by_model.headers["Content-Type"].startswith("text/csv")
    assert rows[0].startswith("id,request_id,user_id,model_id,state")
    assert sorted(r.split(",")[1] for r in rows[1:]) == ["RQ-AAAAAAA1", "RQ-AAAAAAA2", "RQ-AAAAAAA5"]
    assert [r.split(",")[1] for r in (await errors.text()).splitlines()[1:]] == ["RQ-AAAAAAA2"]
    assert "RQ-AAAAAAA2" in found and "RQ-AAAAAAA1" not in found
