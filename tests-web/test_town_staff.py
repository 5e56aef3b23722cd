"""Town staff send an alert to every subscriber and watch it go out."""
import os
import re
import time
from datetime import datetime, timedelta, timezone

from playwright.sync_api import expect

from conftest import DESKTOP, check_accessibility, screenshot, unique
from test_residents import FIXTURES, log_in


def sink_count():
    """Messages smtp-sink has received so far (its -c counter), or None when unknown."""
    path = os.environ.get("KAIRAN_TEST_SMTP_LOG")
    if not path or not os.path.exists(path):
        return None
    counts = re.findall(r"mesg=(\d+)", open(path, encoding="utf-8", errors="replace").read())
    return int(counts[-1]) if counts else 0


def test_town_staff_preview_the_carrier_rendering_send_an_alert_and_watch_it_reach_everyone(server, browser):
    staff_email = unique("bousai")
    # 総務課: sends alerts and, as the town's administrator, keeps the categories and areas.
    server.create_account(staff_email, "総務課 防災係", "--alert-sender", "--admin")
    token = server.token(staff_email)
    addresses = [unique("docomo").replace("example.jp", "docomo.ne.jp"), unique("au").replace("example.jp", "ezweb.ne.jp"),
                 unique("pc")]
    for address in addresses:
        charset = "utf-8" if address.endswith("example.jp") else "iso-2022-jp"
        status, body = server.api("POST", "/v1/alert-subscribers", {"email": address, "charset": charset}, token)
        assert status == 201, body
    before = sink_count()

    context = browser.new_context(viewport=DESKTOP, locale="ja-JP")
    page = context.new_page()
    log_in(page, server, staff_email)
    page.get_by_role("navigation", name="メインメニュー").get_by_role("link", name="防災・防犯メール").click()
    check_accessibility(page)
    page.get_by_role("link", name="登録者").click()
    expect(page.locator("tbody tr")).to_have_count(3)
    check_accessibility(page)
    page.get_by_role("link", name="防災・防犯メール").first.click()
    page.get_by_role("link", name="種別と地区").click()
    page.get_by_label("コード（半角英小文字）").first.fill("heat")
    page.get_by_label("名前").first.fill("熱中症")
    page.get_by_role("button", name="種別を追加・変更").click()
    expect(page.locator(".notice")).to_contain_text("保存しました")
    expect(page.get_by_text("熱中症")).to_be_visible()
    check_accessibility(page)

    page.get_by_role("link", name="防災・防犯メール").first.click()
    page.get_by_role("link", name="新しく送る").click()
    check_accessibility(page)
    page.get_by_label("種別").select_option("disaster")
    page.get_by_label("緊急（受信時間帯の設定にかかわらず、すぐに送ります）").check()
    page.get_by_label("件名").fill("髙橋川の水位上昇")
    page.get_by_label("本文").fill("髙橋川の水位が上がっています❗\n川に近づかないでください。")
    # A photo of the river: uploaded as it is chosen, linked from the mail, never in it.
    page.get_by_label(re.compile("地図・PDF・写真")).set_input_files(str(FIXTURES / "photo-with-gps.jpg"))
    expect(page.locator("[data-attach-list]")).to_contain_text("photo-with-gps.jpg を添付しました。")
    page.get_by_role("button", name="プレビュー").click()
    expect(page.get_by_text("添付ファイル 1 件")).to_be_visible()
    preview = page.locator("section.preview")
    expect(preview).to_contain_text("【防災】髙橋川の水位上昇")
    # A feature phone gets 高 for 髙 (the IBM extension kanji are mapped) and 〓 for what JIS lacks.
    expect(preview.locator(".carrier")).to_contain_text("高橋川の水位が上がっています〓")
    expect(preview).to_contain_text("携帯電話では表示が変わる文字があります")
    check_accessibility(page)
    screenshot(page, "alert-compose")
    page.get_by_role("button", name="送信する").click()
    expect(page.locator(".notice")).to_contain_text("送信しました")

    # The progress reaches 100 %: every subscriber's mail accepted by the relay.
    expect(page.locator(".count")).to_have_text("3 / 3 件", timeout=20_000)
    expect(page.locator("#sent-bar")).to_have_attribute("value", "100")
    carriers = page.locator("table tbody")
    expect(carriers.locator("tr").filter(has_text="docomo")).to_contain_text("1")
    expect(carriers.locator("tr").filter(has_text="au")).to_contain_text("1")
    expect(carriers.locator("tr").filter(has_text="PC・その他")).to_contain_text("1")
    # The body as mailed ends with the photo's link, which opens for anyone holding it.
    expect(page.get_by_role("img", name="写真: photo-with-gps.jpg")).to_be_visible()
    mailed = page.locator(".body").inner_text()
    assert "【添付ファイル】" in mailed, mailed
    link = re.search(r"https?://\S+/a/[A-Za-z0-9_-]+/files/[0-9]+", mailed).group(0)
    stranger = browser.new_context()
    opened = stranger.request.get(link)
    assert opened.status == 200 and opened.headers["content-type"] == "image/jpeg", opened.status
    assert b"GPS" not in opened.body()
    check_accessibility(page)
    screenshot(page, "alert-progress")
    # The wrong photo: taken off the alert that went out, its link in the mail then says so.
    withdraw = page.get_by_role("region", name="添付ファイルの取り下げ")
    withdraw.get_by_label("「photo-with-gps.jpg」を取り下げる").check()
    withdraw.get_by_role("button", name="取り下げる").click()
    expect(page.locator(".notice")).to_contain_text("添付ファイルを取り下げました")
    expect(page.locator("ul.withdrawn")).to_contain_text("photo-with-gps.jpg")
    expect(page.get_by_role("img", name="写真: photo-with-gps.jpg")).to_have_count(0)
    check_accessibility(page)
    gone = stranger.request.get(link)
    assert gone.status == 410 and "配信元が取り下げました" in gone.text(), gone.status
    stranger.close()
    if before is not None:
        assert sink_count() - before >= 3, "smtp-sink received the three mails"

    with page.expect_download() as download:
        page.get_by_role("link", name="送信記録（CSV）").click()
    record = open(download.value.path(), encoding="utf-8").read().splitlines()
    assert record[0].startswith("delivery_id,address,state")
    assert len(record) == 4 and all(",sent," in line for line in record[1:])

    # An alert due in a few seconds: its page, open before it goes out, moves by itself.
    due = (datetime.now(timezone.utc) + timedelta(seconds=6)).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    status, later = server.api("POST", "/v1/alerts", {"category": "crime", "subject": "不審者情報", "body": "下校時に注意してください。",
                                                      "urgent": True, "sendAt": due}, token)
    assert status == 201, later
    page.goto(f"{server.url}/alerts/{later['id']}")
    expect(page.locator(".count")).to_have_text("0 / 3 件")
    expect(page.locator("[data-live-status]")).to_contain_text("自動で更新しています")
    expect(page.locator(".count")).to_have_text("3 / 3 件", timeout=30_000)
    check_accessibility(page)

    context.close()
