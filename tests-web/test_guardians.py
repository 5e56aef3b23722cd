"""Guardians and their school: linking a child with the school's code, an urgent notice
arriving live in the inbox while a teacher sends it, confirming it and answering its form."""
from playwright.sync_api import expect

from conftest import PASSWORD, PHONE, check_accessibility, screenshot, unique
from test_residents import sign_up


def make_school(server):
    """A school with a principal, a class teacher, a class and one child, made over the JSON
    API by the town's administrator and the school's staff (their pages come later)."""
    admin_email, principal_email, teacher_email = unique("soumu"), unique("kocho"), unique("tannin")
    server.create_account(admin_email, "総務課", "--admin")
    admin = server.token(admin_email)
    ids = {}
    for email, name in ((principal_email, "東小 校長"), (teacher_email, "東小 1年1組 担任")):
        status, body = server.api("POST", "/v1/accounts", {"email": email, "password": PASSWORD, "displayName": name})
        assert status == 201, body
        ids[email] = body["id"]
    principal, teacher = server.token(principal_email), server.token(teacher_email)
    status, school = server.api("POST", "/v1/organizations", {"kind": "school", "name": "町立東小学校", "adminAccountId": ids[principal_email]}, admin)
    assert status == 201, school
    school_id = school["id"]
    assert server.api("PUT", f"/v1/organizations/{school_id}/staff/{ids[teacher_email]}", {"role": "staff"}, principal)[0] == 204
    status, klass = server.api("POST", f"/v1/organizations/{school_id}/classes", {"name": "1年1組", "grade": 1}, principal)
    assert status == 201, klass
    assert server.api("PUT", f"/v1/organizations/{school_id}/classes/{klass['id']}/teachers/{ids[teacher_email]}", None, principal)[0] == 204
    status, child = server.api("POST", f"/v1/organizations/{school_id}/children", {"name": "山田 太郎", "classId": klass["id"]}, teacher)
    assert status == 201, child
    status, code = server.api("POST", f"/v1/organizations/{school_id}/children/{child['id']}/link-codes", None, teacher)
    assert status == 201, code
    return school_id, principal, code["code"]


def test_a_guardian_links_a_child_gets_an_urgent_notice_live_and_confirms_it(server, browser):
    school, principal, code = make_school(server)
    context = browser.new_context(viewport=PHONE, locale="ja-JP", is_mobile=True, has_touch=True)
    page = context.new_page()
    sign_up(page, server, "山田 花子", unique("guardian"))

    page.get_by_role("navigation").get_by_role("link", name="学校・園からのお知らせ").click()
    expect(page.get_by_text("お知らせはまだありません")).to_be_visible()
    check_accessibility(page)
    page.get_by_role("link", name="子どもと学校・園").click()
    page.get_by_label("登録コード").fill("WRONG-CODE-0000")
    page.get_by_role("button", name="登録する").click()
    expect(page.get_by_role("alert")).to_contain_text("コードが正しくない")
    check_accessibility(page)
    page.get_by_label("登録コード").fill(code)
    page.get_by_role("button", name="登録する").click()
    expect(page.locator(".notice")).to_contain_text("お子さんを登録しました")
    expect(page.locator("ul.cards")).to_contain_text("山田 太郎")
    expect(page.locator("ul.cards")).to_contain_text("町立東小学校")

    page.get_by_role("navigation").get_by_role("link", name="学校・園からのお知らせ").click()
    expect(page.locator("[data-live-status]")).to_contain_text("自動で更新しています")

    # The principal sends an urgent notice with a reply form; the open inbox shows it without a reload.
    status, notice = server.api("POST", f"/v1/organizations/{school}/notices", {
        "title": "【緊急】大雨のため本日は午前で下校します", "body": "11時30分に一斉下校します。\nお迎えが必要な場合はご連絡ください。",
        "urgent": True, "targets": {"all": True},
        "form": {"kind": "single", "question": "お迎えの予定", "options": ["迎えに行く", "一人で帰宅"]}}, principal)
    assert status == 201, notice
    item = page.locator("ul.cards li").filter(has_text="大雨のため本日は午前で下校します")
    expect(item).to_be_visible(timeout=15_000)
    expect(item).to_contain_text("緊急")
    expect(item).to_contain_text("未読")
    check_accessibility(page)
    screenshot(page, "notices")

    item.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("大雨のため")
    check_accessibility(page)
    page.get_by_role("button", name="確認しました").click()
    expect(page.locator(".notice").first).to_contain_text("確認しました")
    page.get_by_label("迎えに行く").check()
    page.get_by_role("button", name="回答を送る").click()
    expect(page.locator(".notice").first).to_contain_text("回答を送りました")
    expect(page.get_by_label("迎えに行く")).to_be_checked()
    screenshot(page, "notice")

    # What the school's dashboard shows now.
    status, progress = server.api("GET", f"/v1/organizations/{school}/notices/{notice['id']}/status", token=principal)
    assert status == 200, progress
    assert progress["counts"]["confirmedHouseholds"] == 1 and progress["unconfirmed"] == []
    page.get_by_role("link", name="お知らせ一覧").click()
    expect(page.locator("ul.cards li").filter(has_text="大雨")).to_contain_text("確認済み")
    context.close()
