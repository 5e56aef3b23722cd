"""The town's first administrator sets Kairan up from the browser: a school with its
principal, town roles; the principal adds a teacher."""
import re

from playwright.sync_api import expect

from conftest import DESKTOP, PASSWORD, check_accessibility, screenshot, unique
from test_residents import log_in


def test_the_first_administrator_registers_a_school_and_roles_and_the_principal_adds_a_teacher(server, browser):
    admin_email, principal_email, teacher_email, moderator_email = unique("soumu"), unique("kocho"), unique("sensei"), unique("mod")
    server.create_account(admin_email, "総務課", "--admin")
    for email, name in ((principal_email, "西小 校長"), (teacher_email, "西小 教諭"), (moderator_email, "見守り 担当")):
        assert server.api("POST", "/v1/accounts", {"email": email, "password": PASSWORD, "displayName": name})[0] == 201

    context = browser.new_context(viewport=DESKTOP, locale="ja-JP")
    page = context.new_page()
    log_in(page, server, admin_email)
    page.get_by_role("navigation", name="メインメニュー").get_by_role("link", name="町の管理").click()
    check_accessibility(page)
    page.get_by_label("名前").fill("町立西小学校")
    page.get_by_label("管理職のメールアドレス（サイトに登録済みの人）").fill(unique("nobody"))
    page.get_by_role("button", name="学校・園を登録する").click()
    expect(page.get_by_role("alert")).to_contain_text("そのメールアドレスで登録された利用者はいません")
    page.get_by_label("名前").fill("町立西小学校")
    page.get_by_label("管理職のメールアドレス（サイトに登録済みの人）").fill(principal_email)
    page.get_by_role("button", name="学校・園を登録する").click()
    expect(page.locator(".notice")).to_contain_text("保存しました")
    expect(page.locator("ul.cards")).to_contain_text("町立西小学校")
    page.get_by_label("メールアドレス（サイトに登録済みの人）", exact=True).fill(moderator_email)
    page.get_by_label("役割", exact=True).select_option("town_moderator")
    page.get_by_role("button", name="役割を与える").click()
    expect(page.locator(".notice")).to_contain_text("役割を与えました")
    screenshot(page, "admin")
    context.close()

    context = browser.new_context(viewport=DESKTOP, locale="ja-JP")
    page = context.new_page()
    log_in(page, server, principal_email)
    page.get_by_role("navigation", name="メインメニュー").get_by_role("link", name="学校・園の職員ページ").click()
    page.get_by_role("link", name="町立西小学校").click()
    page.get_by_role("link", name="職員と設定", exact=True).click()
    check_accessibility(page)
    page.get_by_label("メールアドレス（サイトに登録済みの人）").fill(teacher_email)
    page.get_by_role("button", name="保存する", exact=True).click()
    expect(page.locator(".notice")).to_contain_text("保存しました")
    expect(page.locator("ul.cards")).to_contain_text("西小 教諭")

    # The school's settings: approval, quiet hours and the absence reasons.
    page.get_by_label("職員のお知らせは管理職の承認後に送る").check()
    page.get_by_label("始まり").fill("21:00")
    page.get_by_label("終わり").fill("")
    page.get_by_role("button", name="設定を保存する").click()
    expect(page.get_by_role("alert")).to_contain_text("両方とも空にしてください")
    page.get_by_label("終わり").fill("07:00")
    page.get_by_label("欠席・遅刻・早退の理由の選択肢（1行に1つ、20個まで）").fill("体調不良\n通院\n家庭の事情\n忌引き")
    page.get_by_role("button", name="設定を保存する").click()
    expect(page.locator(".notice")).to_contain_text("保存しました")
    expect(page.get_by_label("職員のお知らせは管理職の承認後に送る")).to_be_checked()
    expect(page.get_by_label("始まり")).to_have_value("21:00")
    expect(page.get_by_label("欠席・遅刻・早退の理由の選択肢（1行に1つ、20個まで）")).to_have_value("体調不良\n通院\n家庭の事情\n忌引き")
    screenshot(page, "school-staff")

    # A teacher who leaves is taken off the staff.
    page.get_by_role("button", name=re.compile("職員から外す.*西小 教諭")).click()
    expect(page.locator(".notice")).to_contain_text("削除しました")
    expect(page.locator("ul.cards")).not_to_contain_text("西小 教諭")
    context.close()

    # The new moderator finds the queue in their menu.
    context = browser.new_context(viewport=DESKTOP, locale="ja-JP")
    page = context.new_page()
    log_in(page, server, moderator_email)
    expect(page.get_by_role("navigation", name="メインメニュー").get_by_role("link", name="モデレーション")).to_be_visible()
    context.close()
