"""The same flows with JavaScript off: forms post and redirect, live parts fall back to a
reload link."""
from playwright.sync_api import expect

from conftest import PHONE, unique
from test_residents import create_group, post_item, sign_up, start_thread


def test_every_form_works_without_javascript(server, browser):
    writer_context = browser.new_context(viewport=PHONE, locale="ja-JP", java_script_enabled=False)
    reader_context = browser.new_context(viewport=PHONE, locale="ja-JP", java_script_enabled=False)
    writer_context.no_script = reader_context.no_script = True
    writer, reader = writer_context.new_page(), reader_context.new_page()

    sign_up(writer, server, "中村 陽子", unique("yoko"))
    create_group(writer, "南地区 防災の会", "地域（地区・自治会など）", "南地区")
    start_thread(writer, "避難訓練のお知らせ", "12月8日（日）9時、南小学校に集合です。")

    sign_up(reader, server, "小林 誠", unique("makoto"))
    reader.get_by_role("navigation").get_by_role("link", name="グループ").click()
    reader.get_by_role("link", name="南地区 防災の会").click()
    reader.get_by_role("button", name="このグループに参加する").click()
    reader.get_by_role("link", name="避難訓練のお知らせ").click()
    # No script: the page says how to see what is new.
    reload_link = reader.get_by_role("link", name="最新の状態に更新")
    expect(reload_link).to_be_visible()

    writer.get_by_label("本文").fill("持ち物は飲み物とタオルです。")
    writer.get_by_role("button", name="返信する").click()
    expect(writer.locator(".notice")).to_contain_text("投稿しました")
    expect(post_item(writer, "持ち物は飲み物とタオルです。")).to_be_visible()

    expect(reader.get_by_text("持ち物は飲み物とタオルです。")).to_have_count(0)
    reload_link.click()
    expect(post_item(reader, "持ち物は飲み物とタオルです。")).to_be_visible()

    post_item(reader, "持ち物は").get_by_role("button", name="いいね").click()
    expect(post_item(reader, "持ち物は")).to_contain_text("いいね 1")
    reader.get_by_label("本文").fill("了解です。")
    reader.get_by_role("button", name="返信する").click()
    expect(post_item(reader, "了解です。")).to_be_visible()

    reader.get_by_role("link", name="南地区 防災の会").click()
    reader.get_by_role("button", name="グループを退会する").click()
    expect(reader.locator(".notice")).to_contain_text("グループを退会しました")
    reader.get_by_role("button", name="ログアウト").click()
    expect(reader.get_by_role("navigation").get_by_role("link", name="ログイン")).to_be_visible()
    writer_context.close()
    reader_context.close()
