"""Cookies, form tokens and the page headers."""
import http.server
import threading

from playwright.sync_api import expect

from conftest import DESKTOP, unique
from test_residents import create_group, sign_up, start_thread


def test_session_cookie_flags_and_page_headers(server, browser):
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    response = page.goto(server.url + "/login")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert response.headers["x-frame-options"] == "DENY"
    sign_up(page, server, "加藤 恵", unique("megumi"))
    cookies = {cookie["name"]: cookie for cookie in context.cookies()}
    session = cookies["kairan_session"]
    assert session["httpOnly"] and session["sameSite"] == "Lax"
    # The server's public URL is http here; with https it also sets Secure (unit-tested in Swift).
    assert not session["secure"]
    assert cookies["kairan_csrf"]["httpOnly"]
    context.close()


def test_a_post_without_the_form_token_is_refused(server, browser):
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    sign_up(page, server, "吉田 翔", unique("sho"))
    response = page.request.post(server.url + "/groups", form={"name": "トークンなし", "kind": "community"})
    assert response.status == 403
    assert "送信できませんでした" in response.text()
    response = page.request.post(server.url + "/groups", form={"name": "偽のトークン", "kind": "community", "csrf": "x" * 43})
    assert response.status == 403
    page.goto(server.url + "/groups")
    expect(page.get_by_text("トークンなし")).to_have_count(0)
    context.close()


def test_a_cross_site_form_post_is_refused_even_with_a_stolen_token(server, browser):
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    sign_up(page, server, "山本 大輔", unique("daisuke"))
    create_group(page, "北地区 見守り隊", "地域（地区・自治会など）", "北地区")
    start_thread(page, "見守りの当番", "来週の当番をお願いします。")
    thread_path = page.url.split("?")[0].split("#")[0].replace(server.url, "")
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")

    # Another site (another origin) whose page posts a form to Kairan on load.
    attack = f"""<!DOCTYPE html><html lang="en"><body>
        <form id="f" method="post" action="{server.url}{thread_path}/posts"><input name="csrf" value="{token}"><input name="body" value="攻撃者の投稿"></form>
        <script>document.getElementById("f").submit()</script></body></html>""".encode()

    class Attacker(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(attack)

        def log_message(self, *args):
            pass

    evil = http.server.HTTPServer(("127.0.0.2", 0), Attacker)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    try:
        with page.expect_response(lambda r: r.url.endswith("/posts")) as posted:
            page.goto(f"http://127.0.0.2:{evil.server_port}/")
        assert posted.value.status == 403
    finally:
        evil.shutdown()
    page.goto(server.url + thread_path)
    expect(page.get_by_role("heading", level=1)).to_have_text("見守りの当番")
    expect(page.get_by_text("攻撃者の投稿")).to_have_count(0)
    context.close()
