"""Guardians and their school: linking a child with the school's code, an urgent notice
arriving live in the inbox while a teacher sends it, confirming it and answering its form."""
import re

from playwright.sync_api import expect

from conftest import DESKTOP, PASSWORD, PHONE, check_accessibility, screenshot, unique
from test_residents import log_in, sign_up


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
    return school_id, principal, code["code"], principal_email


def test_a_guardian_links_a_child_gets_an_urgent_notice_live_and_confirms_it(server, browser):
    school, principal, code, _ = make_school(server)
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

    # An absence report; the teacher acknowledges it and the guardian's open page shows it.
    page.get_by_role("link", name="欠席・遅刻・早退の連絡").click()
    check_accessibility(page)
    page.get_by_label("遅刻").check()
    page.get_by_label("理由").select_option("通院")
    page.get_by_label("連絡事項（任意）").fill("10時ごろ登校します。")
    page.get_by_role("button", name="山田 太郎の連絡を送る").click()
    expect(page.locator(".notice")).to_contain_text("連絡を送りました")
    expect(page.locator("#sent-reports")).to_contain_text("未確認")
    expect(page.locator("[data-live-status]")).to_contain_text("自動で更新しています")

    status, inbox = server.api("GET", f"/v1/organizations/{school}/absences", token=principal)
    assert status == 200 and len(inbox["items"]) == 1, inbox
    assert server.api("POST", f"/v1/organizations/{school}/absences/{inbox['items'][0]['id']}/acknowledge", None, principal)[0] == 200
    expect(page.locator("#sent-reports")).to_contain_text("確認済み", timeout=10_000)

    # How notices reach this guardian: by mail too.
    page.get_by_role("navigation", name="メインメニュー").get_by_role("link", name="マイページ").click()
    page.get_by_label("両方で受け取る").check()
    page.get_by_role("region", name="学校・園からのお知らせの受け取り方").get_by_role("button", name="保存する").click()
    expect(page.locator(".notice")).to_contain_text("受け取り方を保存しました")
    expect(page.get_by_label("両方で受け取る")).to_be_checked()
    check_accessibility(page)
    context.close()


def test_a_teacher_sends_a_notice_from_the_browser_and_watches_the_dashboard_as_a_guardian_confirms(server, browser):
    school, _, code, principal_email = make_school(server)
    guardian_email = unique("hogosha")
    assert server.api("POST", "/v1/accounts", {"email": guardian_email, "password": PASSWORD, "displayName": "田中 恵子"})[0] == 201
    assert server.api("POST", "/v1/me/children", {"code": code}, server.token(guardian_email))[0] == 201

    staff_context = browser.new_context(viewport=DESKTOP, locale="ja-JP")
    desk = staff_context.new_page()
    log_in(desk, server, principal_email)
    desk.get_by_role("navigation", name="メインメニュー").get_by_role("link", name="学校・園の職員ページ").click()
    desk.get_by_role("link", name="町立東小学校").click()
    check_accessibility(desk)
    desk.get_by_role("link", name="お知らせを作成").click()
    check_accessibility(desk)
    desk.get_by_label("件名").fill("明日の遠足は延期します")
    desk.get_by_label("本文").fill("雨の予報のため、遠足は来週に延期します。\n明日は通常の授業です。")
    desk.get_by_label("緊急連絡（静かな時間でもすぐに送り、未確認の家庭を追跡します）").check()
    desk.get_by_label("選んだ相手（学年・クラス・名簿）").check()
    desk.get_by_label("1年1組").check()
    desk.get_by_role("button", name="プレビュー").click()
    preview = desk.locator("section.preview")
    expect(preview).to_contain_text("送る相手: 1年1組")
    expect(preview).to_contain_text("雨の予報のため")
    check_accessibility(desk)
    screenshot(desk, "notice-compose")
    # What the form holds (its own key included), to send it once more below.
    fields = dict(desk.evaluate("() => [...new FormData(document.querySelector('form.stack'))]"))
    compose_url = server.url + desk.locator("form.stack").get_attribute("action")
    desk.get_by_role("button", name="送信する").click()
    expect(desk.locator(".notice")).to_contain_text("送信しました")
    first = desk.url.split("?")[0]

    # The same form sent again (a double click, a resubmitted page): the same notice, not a second one.
    again = desk.request.post(compose_url, form={**fields, "send": "1"}, max_redirects=0)
    assert again.status == 303 and again.headers["location"].split("?")[0] == first.replace(server.url, ""), again.headers
    expect(desk.locator(".count")).to_have_text("0 / 1 家庭")
    expect(desk.locator("#dashboard table")).to_contain_text("山田 太郎")
    # Each line of the body is its own paragraph (a textarea posts CRLF).
    expect(desk.locator("section[aria-labelledby=content-heading] .body p")).to_have_count(2)
    expect(desk.locator("[data-live-status]")).to_contain_text("自動で更新しています")
    expect(desk.locator("#dashboard")).to_contain_text("再通知します")

    # A class teacher's view of the same notice, and whom to call while it is unconfirmed.
    desk.get_by_label("クラス", exact=True).select_option(label="1年1組")
    desk.get_by_role("button", name="絞り込む").click()
    expect(desk.get_by_role("heading", name="確認の状況（1年1組）")).to_be_visible()
    desk.get_by_role("link", name=re.compile("電話連絡リスト")).click()
    expect(desk.get_by_role("heading", level=1)).to_have_text("電話連絡リスト（1年1組）")
    expect(desk.locator("table")).to_contain_text("田中 恵子")
    check_accessibility(desk)
    desk.get_by_role("navigation", name="パンくずリスト").get_by_role("link").click()
    expect(desk.locator("[data-live-status]")).to_contain_text("自動で更新しています")

    # The guardian, on a phone, confirms; the teacher's page moves without a reload.
    guardian_context = browser.new_context(viewport=PHONE, locale="ja-JP", is_mobile=True, has_touch=True)
    phone = guardian_context.new_page()
    log_in(phone, server, guardian_email)
    phone.get_by_role("navigation", name="メインメニュー").get_by_role("link", name="学校・園からのお知らせ").click()
    phone.locator("ul.cards li").filter(has_text="明日の遠足は延期します").get_by_role("link").click()
    phone.get_by_role("button", name="確認しました").click()
    expect(phone.locator(".notice").first).to_contain_text("確認しました")

    expect(desk.locator(".count")).to_have_text("1 / 1 家庭", timeout=10_000)
    expect(desk.get_by_text("すべての家庭が確認しました")).to_be_visible()
    check_accessibility(desk)
    screenshot(desk, "dashboard")

    # The guardian reports an absence; the school's inbox has it, and acknowledging it is one click.
    phone.get_by_role("link", name="お知らせ一覧").click()
    phone.get_by_role("link", name="欠席・遅刻・早退の連絡").click()
    phone.get_by_label("理由").select_option("体調不良")
    phone.get_by_role("button", name="山田 太郎の連絡を送る").click()
    expect(phone.locator(".notice")).to_contain_text("連絡を送りました")
    desk.get_by_role("link", name="お知らせ一覧").click()
    expect(desk.locator("ul.cards li").filter(has_text="明日の遠足は延期します")).to_have_count(1)
    desk.get_by_role("link", name="欠席連絡").click()
    report = desk.locator("ul.cards li").filter(has_text="山田 太郎")
    expect(report).to_contain_text("体調不良")
    check_accessibility(desk)
    report.get_by_role("button", name=re.compile("確認しました")).click()
    expect(desk.locator(".notice")).to_contain_text("確認済みにしました")
    expect(desk.locator("ul.cards li").filter(has_text="山田 太郎")).to_contain_text("確認済み")
    staff_context.close()
    guardian_context.close()


def test_school_staff_keep_the_roster_and_hand_a_guardian_a_link_code(server, browser):
    school, _, _, principal_email = make_school(server)
    staff_context = browser.new_context(viewport=DESKTOP, locale="ja-JP")
    desk = staff_context.new_page()
    log_in(desk, server, principal_email)
    desk.get_by_role("navigation", name="メインメニュー").get_by_role("link", name="学校・園の職員ページ").click()
    desk.get_by_role("link", name="町立東小学校").click()
    desk.get_by_role("link", name="クラスと子ども").click()
    check_accessibility(desk)
    desk.get_by_label("クラス名").fill("2年1組")
    desk.get_by_label("学年（任意）").fill("2")
    desk.get_by_role("button", name="作成する").click()
    expect(desk.locator(".notice")).to_contain_text("保存しました")
    # The class's 担任 (who receives its absence reports), chosen among the school's staff.
    klass = desk.locator("ul.cards > li").filter(has_text="2年1組")
    klass.get_by_label("担任を追加（2年1組）").select_option(label="東小 1年1組 担任")
    klass.get_by_role("button", name="追加").click()
    expect(desk.locator(".notice")).to_contain_text("保存しました")
    expect(desk.locator("ul.cards > li").filter(has_text="2年1組")).to_contain_text("担任: ")
    expect(desk.locator("ul.cards > li").filter(has_text="2年1組").locator("ul.inline-list")).to_contain_text("東小 1年1組 担任")
    check_accessibility(desk)
    desk.get_by_role("link", name="2年1組").click()
    check_accessibility(desk)
    desk.get_by_label("名前").fill("佐々木 花")
    desk.get_by_label("クラス", exact=True).last.select_option(label="2年1組")
    desk.get_by_role("button", name="登録する").click()
    expect(desk.get_by_role("heading", level=1)).to_have_text("佐々木 花")
    desk.get_by_label("名前").fill("佐々木 父")
    desk.get_by_label("メールアドレス").fill(unique("chichi").replace("example.jp", "docomo.ne.jp"))
    desk.get_by_role("button", name="登録する").click()
    expect(desk.locator("table")).to_contain_text("佐々木 父")
    desk.get_by_role("button", name="登録コードを発行する").click()
    code = desk.locator(".code strong").inner_text()
    assert re.fullmatch(r"[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}", code), code
    check_accessibility(desk)
    screenshot(desk, "roster-child")

    context = browser.new_context(viewport=PHONE, locale="ja-JP", is_mobile=True, has_touch=True)
    phone = context.new_page()
    sign_up(phone, server, "佐々木 母", unique("haha"))
    phone.goto(server.url + "/children")
    phone.get_by_label("登録コード").fill(code.lower())
    phone.get_by_role("button", name="登録する").click()
    expect(phone.locator("ul.cards")).to_contain_text("佐々木 花")
    desk.get_by_role("navigation", name="パンくずリスト").get_by_role("link", name="子ども").click()
    desk.get_by_role("link", name="佐々木 花").click()
    expect(desk.locator("table")).to_contain_text("佐々木 母")

    # A custom list (名簿) made from the children by class, and a notice sent to it alone.
    desk.goto(f"{server.url}/schools/{school}")
    desk.get_by_role("link", name="名簿", exact=True).click()
    check_accessibility(desk)
    desk.get_by_label("名簿の名前").fill("合唱部")
    desk.locator("summary", has_text="2年1組").click()
    desk.get_by_label("佐々木 花").check()
    desk.get_by_role("button", name="つくる").click()
    expect(desk.locator(".notice")).to_contain_text("保存しました")
    expect(desk.locator("ul.cards")).to_contain_text("合唱部（1人）")
    check_accessibility(desk)
    desk.goto(f"{server.url}/schools/{school}/notices/new")
    desk.get_by_label("件名").fill("合唱部の練習")
    desk.get_by_label("本文").fill("土曜の練習は10時からです。")
    desk.get_by_label("選んだ相手（学年・クラス・名簿）").check()
    desk.get_by_label("合唱部").check()
    desk.get_by_role("button", name="プレビュー").click()
    expect(desk.locator("section.preview")).to_contain_text("送る相手: 名簿「合唱部」")
    desk.get_by_role("button", name="送信する").click()
    expect(desk.locator(".notice")).to_contain_text("送信しました")
    expect(desk.locator(".count")).to_have_text("0 / 1 家庭")
    staff_context.close()
    context.close()
