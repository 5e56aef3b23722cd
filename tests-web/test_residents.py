"""Residents in their groups, as they would use Kairan from a phone or a PC."""
import pathlib
import re

from playwright.sync_api import expect

from conftest import DESKTOP, PASSWORD, PHONE, check_accessibility, screenshot, unique


def sign_up(page, server, name, email):
    page.goto(server.url + "/")
    page.get_by_role("navigation").get_by_role("link", name="新規登録").click()
    check_accessibility(page)
    page.get_by_label("表示名").fill(name)
    page.get_by_label("メールアドレス").fill(email)
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="登録する").click()
    expect(page.locator(".notice")).to_contain_text("登録が完了しました")
    check_accessibility(page)


def log_in(page, server, email):
    page.goto(server.url + "/")
    page.get_by_role("navigation").get_by_role("link", name="ログイン").click()
    page.get_by_label("メールアドレス").fill(email)
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    expect(page.get_by_role("navigation", name="メインメニュー").get_by_role("button", name="ログアウト")).to_be_visible()


def create_group(page, name, kind_label, area):
    page.get_by_role("navigation").get_by_role("link", name="グループ").click()
    page.get_by_role("link", name="グループを作る").click()
    check_accessibility(page)
    page.get_by_label("グループ名").fill(name)
    page.get_by_label("説明").fill("子どもの遊び場や行事の情報を交換しましょう。")
    page.get_by_label(kind_label).check()
    page.get_by_label("地区（任意）").fill(area)
    page.get_by_role("button", name="作成する").click()
    expect(page.locator(".notice")).to_contain_text("グループを作成しました")
    expect(page.get_by_role("heading", level=1)).to_have_text(name)


def start_thread(page, title, body):
    page.get_by_label("タイトル").fill(title)
    page.get_by_label("本文").fill(body)
    page.get_by_role("button", name="投稿する").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)


def post_item(page, text):
    return page.locator("ol.posts > li").filter(has_text=text)


def test_a_neighbour_sees_a_reply_appear_live_and_reacts_flags_and_searches(server, browser):
    owner_context = browser.new_context(viewport=DESKTOP, locale="ja-JP")
    neighbour_context = browser.new_context(viewport=PHONE, locale="ja-JP", is_mobile=True, has_touch=True)
    owner, neighbour = owner_context.new_page(), neighbour_context.new_page()

    sign_up(owner, server, "佐藤 花子", unique("hanako"))
    screenshot(owner, "home")
    create_group(owner, "東地区 子育てひろば", "子育て", "東地区")
    start_thread(owner, "東公園の遊具が新しくなりました", "すべり台とブランコが新しくなっています。\n小さい子も遊べます。")
    check_accessibility(owner)

    sign_up(neighbour, server, "鈴木 一郎", unique("ichiro"))
    neighbour.get_by_role("navigation").get_by_role("link", name="グループ").click()
    neighbour.get_by_label("種類").select_option("parenting")
    neighbour.get_by_label("地区").fill("東地区")
    neighbour.get_by_role("button", name="絞り込む").click()
    check_accessibility(neighbour)
    screenshot(neighbour, "groups")
    neighbour.get_by_role("link", name="東地区 子育てひろば").click()
    neighbour.get_by_role("button", name="このグループに参加する").click()
    expect(neighbour.locator(".notice")).to_contain_text("グループに参加しました")
    check_accessibility(neighbour)
    screenshot(neighbour, "group")
    neighbour.get_by_role("link", name="東公園の遊具が新しくなりました").click()
    expect(neighbour.locator("[data-live-status]")).to_contain_text("自動で更新しています")

    # The owner replies in another browser; the neighbour's open page shows it without a reload.
    owner.get_by_label("本文").fill("土曜の10時に集まって遊びませんか？")
    owner.get_by_role("button", name="返信する").click()
    expect(owner.locator(".notice")).to_contain_text("投稿しました")
    expect(post_item(neighbour, "土曜の10時に集まって遊びませんか？")).to_be_visible(timeout=10_000)
    expect(neighbour.locator("[data-live-status] [role=status]")).to_contain_text("新しい情報を表示しました")
    check_accessibility(neighbour)

    # An edit reaches the open page too.
    post_item(owner, "土曜の10時").get_by_role("link", name="編集").click()
    check_accessibility(owner)
    owner.get_by_label("本文").fill("土曜の10時半に集まって遊びませんか？")
    owner.get_by_role("button", name="保存する").click()
    expect(post_item(neighbour, "土曜の10時半に")).to_contain_text("編集済み", timeout=10_000)

    neighbour.get_by_label("本文").fill("参加します！")
    neighbour.get_by_role("button", name="返信する").click()
    expect(post_item(neighbour, "参加します！")).to_be_visible()
    post_item(neighbour, "すべり台とブランコ").get_by_role("button", name="いいね").click()
    expect(post_item(neighbour, "すべり台とブランコ")).to_contain_text("いいね 1")
    screenshot(neighbour, "thread")

    post_item(neighbour, "土曜の10時半").get_by_role("link", name="通報").click()
    check_accessibility(neighbour)
    neighbour.get_by_label("宣伝・スパム").check()
    neighbour.get_by_role("button", name="通報する").click()
    expect(neighbour.locator(".notice")).to_contain_text("通報しました")

    neighbour.get_by_role("link", name="東地区 子育てひろば").click()
    neighbour.get_by_label("このグループ内を検索").fill("ブランコ")
    neighbour.get_by_role("button", name="検索").click()
    expect(neighbour.get_by_role("heading", level=1)).to_contain_text("ブランコ")
    expect(neighbour.locator("ul.cards li")).to_have_count(1)
    check_accessibility(neighbour)

    # Deleting one's own post leaves a marker, not the text.
    neighbour.go_back()
    neighbour.get_by_role("link", name="東公園の遊具が新しくなりました").click()
    post_item(neighbour, "参加します！").get_by_role("button", name="削除").click()
    expect(neighbour.locator(".notice")).to_contain_text("投稿を削除しました")
    expect(neighbour.get_by_text("参加します！")).to_have_count(0)
    expect(neighbour.get_by_text("この投稿は削除されました")).to_be_visible()

    neighbour.get_by_role("navigation").get_by_role("link", name="マイページ").click()
    expect(neighbour.get_by_role("heading", level=1)).to_have_text("マイページ")
    check_accessibility(neighbour)
    owner_context.close()
    neighbour_context.close()


def test_a_post_a_moderator_hides_vanishes_from_a_residents_open_thread(server, browser):
    # The group, its thread and the offending post come through the JSON API, as an app would.
    owner_email, author_email, moderator_email = unique("owner"), unique("author"), unique("moderator")
    for email, name in ((owner_email, "高橋 町内会長"), (author_email, "業者")):
        assert server.api("POST", "/v1/accounts", {"email": email, "password": PASSWORD, "displayName": name})[0] == 201
    server.create_account(moderator_email, "町のモデレーター", "--moderator")
    owner, author = server.token(owner_email), server.token(author_email)
    status, group = server.api("POST", "/v1/groups", {"kind": "community", "name": "西地区 自治会", "visibility": "public", "joinPolicy": "open"}, owner)
    assert status == 201, group
    status, thread = server.api("POST", f"/v1/groups/{group['id']}/threads", {"title": "ごみ当番", "body": "来月の当番表です。"}, owner)
    assert status == 201, thread
    thread_id = thread["thread"]["id"]
    assert server.api("POST", f"/v1/groups/{group['id']}/join", {}, author)[0] in (200, 201)
    status, post = server.api("POST", f"/v1/threads/{thread_id}/posts", {"body": "格安で屋根を修理します。今すぐお電話を！"}, author)
    assert status == 201, post

    context = browser.new_context(viewport=DESKTOP, locale="ja-JP")
    page = context.new_page()
    sign_up(page, server, "伊藤 さくら", unique("sakura"))
    page.goto(f"{server.url}/groups/{group['id']}")
    page.get_by_role("button", name="このグループに参加する").click()
    page.get_by_role("link", name="ごみ当番").click()
    expect(post_item(page, "格安で屋根を修理します")).to_be_visible()
    expect(page.locator("[data-live-status]")).to_contain_text("自動で更新しています")

    post_item(page, "格安で屋根を修理します").get_by_role("link", name="通報").click()
    page.get_by_label("宣伝・スパム").check()
    page.get_by_role("button", name="通報する").click()
    expect(page.locator(".notice")).to_contain_text("通報しました")
    expect(post_item(page, "格安で屋根を修理します")).to_be_visible()

    # The town's moderator works the queue in another browser.
    moderator_context = browser.new_context(viewport=DESKTOP, locale="ja-JP")
    desk = moderator_context.new_page()
    log_in(desk, server, moderator_email)
    desk.get_by_role("navigation", name="メインメニュー").get_by_role("link", name="モデレーション").click()
    check_accessibility(desk)
    item = desk.locator("ul.cards li").filter(has_text="格安で屋根を修理します")
    expect(item).to_contain_text("宣伝・スパム 1")
    item.get_by_role("link").click()
    item_url = desk.url
    check_accessibility(desk)
    expect(desk.locator("blockquote")).to_contain_text("格安で屋根を修理します")
    desk.get_by_role("button", name="決定する").click()  # nothing chosen: the browser asks first
    desk.get_by_label("非表示にする").check()
    desk.get_by_label("理由（記録に残ります）").fill("宣伝のため")
    screenshot(desk, "moderation-item")
    desk.get_by_role("button", name="決定する").click()
    expect(desk.locator(".notice")).to_contain_text("対応を記録しました")

    # Gone from the open page without a reload.
    expect(page.get_by_text("格安で屋根を修理します")).to_have_count(0, timeout=10_000)
    check_accessibility(page)

    desk.get_by_role("link", name="対応の記録").click()
    expect(desk.locator("ul.cards")).to_contain_text("宣伝のため")
    check_accessibility(desk)

    # The author is suspended town-wide by mistake for a month; the suspension is found and lifted.
    desk.goto(item_url)
    desk.get_by_label("投稿を一時停止する").check()
    desk.get_by_label("理由（記録に残ります）").fill("宣伝の繰り返し")
    desk.get_by_label("期間（時間、一時停止・追放のとき）").fill("720")
    desk.get_by_label("一時停止を町全体に適用する").check()
    desk.get_by_role("button", name="決定する").click()
    expect(desk.locator(".notice")).to_contain_text("対応を記録しました")
    assert server.api("POST", f"/v1/threads/{thread_id}/posts", {"body": "再度のお知らせ"}, author)[0] == 403
    desk.get_by_role("link", name="利用停止").click()
    suspended = desk.locator("ul.cards li").filter(has_text="業者")
    expect(suspended).to_contain_text("町全体")
    check_accessibility(desk)
    suspended.locator("summary").click()
    suspended.get_by_label("解除する理由（記録に残り、本人に伝わります）").fill("別の人と取り違えたため")
    suspended.get_by_role("button", name="いま解除する").click()
    expect(desk.locator(".notice")).to_contain_text("利用停止を解除しました")
    expect(desk.get_by_text("利用停止中の人はいません")).to_be_visible()
    assert server.api("POST", f"/v1/threads/{thread_id}/posts", {"body": "再度のお知らせ"}, author)[0] == 201

    # Watched words: one added by hand, two from CSV, and the list downloaded again.
    desk.get_by_role("link", name="モデレーション").first.click()
    desk.get_by_role("link", name="監視語").click()
    check_accessibility(desk)
    desk.get_by_label("語", exact=True).fill("激安")
    desk.get_by_label("見つけたとき").select_option("block")
    desk.get_by_role("button", name="保存する").click()
    expect(desk.locator(".notice")).to_contain_text("保存しました")
    desk.get_by_label("CSV（1行に「語,block|hold|flag[,fold]」）").fill("格安,hold\n壊れた行")
    desk.get_by_role("button", name="取り込む").click()
    expect(desk.get_by_role("alert")).to_contain_text("2行目が読めません")
    desk.get_by_label("CSV（1行に「語,block|hold|flag[,fold]」）").fill("pattern,action,kana\n格安,hold\nうります,flag,fold")
    desk.get_by_role("button", name="取り込む").click()
    expect(desk.locator(".notice")).to_contain_text("取り込みました")
    expect(desk.locator("table tbody tr")).to_have_count(3)
    screenshot(desk, "watched-words")
    with desk.expect_download() as download:
        desk.get_by_role("link", name="CSVでダウンロード").click()
    exported = open(download.value.path(), encoding="utf-8").read()
    assert "激安,block" in exported and "うります,flag,fold" in exported
    moderator_context.close()
    context.close()


def test_logging_out_ends_the_session_and_a_wrong_password_is_said_in_japanese(server, browser):
    context = browser.new_context(viewport=PHONE, locale="ja-JP")
    page = context.new_page()
    email = unique("logout")
    sign_up(page, server, "渡辺 健", email)
    page.get_by_role("button", name="ログアウト").click()
    expect(page.get_by_role("navigation").get_by_role("link", name="ログイン")).to_be_visible()
    page.goto(server.url + "/me")
    expect(page).to_have_url(re.compile(r"/login\?next="))

    page.get_by_label("メールアドレス").fill(email)
    page.get_by_label("パスワード").fill("wrong password")
    page.get_by_role("button", name="ログイン").click()
    expect(page.get_by_role("alert")).to_contain_text("メールアドレスまたはパスワードが正しくありません")
    check_accessibility(page)
    screenshot(page, "login")

    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    expect(page).to_have_url(re.compile(r"/me$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("マイページ")
    context.close()


def test_a_group_that_approves_its_members_asks_and_the_owner_approves(server, browser):
    owner_context = browser.new_context(viewport=DESKTOP, locale="ja-JP")
    owner = owner_context.new_page()
    sign_up(owner, server, "松本 自治会長", unique("kaichou"))
    owner.get_by_role("navigation").get_by_role("link", name="グループ").click()
    owner.get_by_role("link", name="グループを作る").click()
    owner.get_by_label("グループ名").fill("中央地区 役員会")
    owner.get_by_label("管理者の承認が必要").check()
    owner.get_by_role("button", name="作成する").click()
    expect(owner.locator(".notice")).to_contain_text("グループを作成しました")
    group_url = owner.url.split("?")[0]

    context = browser.new_context(viewport=PHONE, locale="ja-JP")
    page = context.new_page()
    sign_up(page, server, "井上 役員", unique("yakuin"))
    page.goto(group_url)
    page.get_by_role("button", name="参加を申し込む").click()
    expect(page.locator(".notice")).to_contain_text("参加を申し込みました")

    owner.goto(group_url)
    owner.get_by_role("link", name="メンバー・参加の申し込み・招待").click()
    check_accessibility(owner)
    request = owner.locator("ul.cards li").filter(has_text="井上 役員")
    request.get_by_role("button", name="承認する").click()
    expect(owner.locator(".notice")).to_contain_text("参加を承認しました")
    expect(owner.locator("#members li").filter(has_text="井上 役員")).to_contain_text("メンバー")

    page.goto(group_url)
    expect(page.get_by_role("button", name="グループを退会する")).to_be_visible()
    expect(page.get_by_role("heading", name="新しいスレッド")).to_be_visible()
    owner_context.close()
    context.close()


def test_an_owner_invites_bans_and_lifts_a_ban_from_the_members_page(server, browser):
    owner_email, friend_email, troll_email = unique("kaichou"), unique("nakamura"), unique("arashi")
    ids = {}
    newcomer_email = unique("sato")
    for email, name in ((owner_email, "小林 会長"), (friend_email, "中村 さん"), (troll_email, "荒らし 太郎"), (newcomer_email, "佐藤 新")):
        status, body = server.api("POST", "/v1/accounts", {"email": email, "password": PASSWORD, "displayName": name})
        assert status == 201, body
        ids[email] = body["id"]
    owner_token = server.token(owner_email)
    status, group = server.api("POST", "/v1/groups", {"kind": "community", "name": "北町 見守り隊", "visibility": "private", "joinPolicy": "invite"},
                               owner_token)
    assert status == 201, group
    members_url = f"{server.url}/groups/{group['id']}/members"
    assert server.api("POST", f"/v1/groups/{group['id']}/invitations", {"accountId": ids[troll_email]}, owner_token)[0] == 204
    assert server.api("POST", f"/v1/groups/{group['id']}/join", None, server.token(troll_email))[0] == 200

    owner_context = browser.new_context(viewport=DESKTOP, locale="ja-JP")
    owner = owner_context.new_page()
    log_in(owner, server, owner_email)
    owner.goto(members_url)
    check_accessibility(owner)
    # An invitation by the address the neighbour registered with; an address nobody registered
    # is answered the same way, so the page tells no one who uses Kairan.
    owner.get_by_label("招待する人のメールアドレス（回覧板に登録しているもの）").fill(unique("dareka"))
    owner.get_by_role("button", name="招待する").click()
    expect(owner.locator(".notice")).to_contain_text("招待しました")
    owner.get_by_label("招待する人のメールアドレス（回覧板に登録しているもの）").fill(friend_email)
    owner.get_by_role("button", name="招待する").click()
    expect(owner.locator(".notice")).to_contain_text("招待しました")
    expect(owner.locator("section[aria-labelledby=invitations-heading] li")).to_have_count(1)
    expect(owner.locator("section[aria-labelledby=invitations-heading]")).to_contain_text("中村 さん")

    # A member who troubles the group is banned, with a reason only moderators see.
    troll = owner.locator("#members li").filter(has_text="荒らし 太郎")
    troll.locator("summary").click()
    troll.get_by_label("禁止する理由（本人には見えません）").fill("同じ宣伝の繰り返し")
    # Someone joins meanwhile: the list refreshes live, and the open panel and the reason
    # being typed survive it.
    assert server.api("POST", f"/v1/groups/{group['id']}/invitations", {"accountId": ids[newcomer_email]}, owner_token)[0] == 204
    assert server.api("POST", f"/v1/groups/{group['id']}/join", None, server.token(newcomer_email))[0] == 200
    expect(owner.locator("#members")).to_contain_text("佐藤 新", timeout=10_000)
    expect(troll.get_by_label("禁止する理由（本人には見えません）")).to_have_value("同じ宣伝の繰り返し")
    troll.get_by_role("button", name=re.compile("参加を禁止する.*荒らし 太郎")).click()
    expect(owner.locator(".notice")).to_contain_text("参加を禁止しました")
    bans = owner.locator("section[aria-labelledby=bans-heading]")
    expect(bans).to_contain_text("荒らし 太郎")
    expect(bans).to_contain_text("同じ宣伝の繰り返し")
    check_accessibility(owner)
    screenshot(owner, "group-members")

    # The invited neighbour finds the invitation among their notifications and accepts it.
    context = browser.new_context(viewport=PHONE, locale="ja-JP", is_mobile=True, has_touch=True)
    phone = context.new_page()
    log_in(phone, server, friend_email)
    phone.get_by_role("navigation", name="メインメニュー").get_by_role("link", name="マイページ").click()
    phone.get_by_role("link", name=re.compile("グループ「北町 見守り隊」に招待されました")).click()
    expect(phone.get_by_text("このグループに招待されています")).to_be_visible()
    check_accessibility(phone)
    phone.get_by_role("button", name="招待を受けて参加する").click()
    expect(phone.locator(".notice")).to_contain_text("グループに参加しました")
    expect(phone.get_by_role("heading", name="新しいスレッド")).to_be_visible()

    owner.reload()
    expect(owner.locator("section[aria-labelledby=invitations-heading]")).to_contain_text("返事を待っている招待はありません")
    owner.locator("section[aria-labelledby=bans-heading]").get_by_role("button", name=re.compile("禁止を解除する.*荒らし 太郎")).click()
    expect(owner.locator(".notice")).to_contain_text("禁止を解除しました")
    expect(owner.locator("section[aria-labelledby=bans-heading]")).to_contain_text("いません")
    owner_context.close()
    context.close()


def test_a_resident_changes_the_password_and_the_other_device_is_signed_out(server, browser):
    phone = browser.new_context(viewport=PHONE, locale="ja-JP")
    page = phone.new_page()
    email = unique("password")
    sign_up(page, server, "小林 誠", email)
    desktop = browser.new_context(viewport=DESKTOP, locale="ja-JP")
    other = desktop.new_page()
    log_in(other, server, email)

    page.goto(server.url + "/me")
    # The town's alerts on this phone's notifications: 防災 always comes; she leaves 防犯 out.
    alerts = page.get_by_role("region", name="町の防災・防犯情報の通知")
    expect(alerts.get_by_label("防災（必ず届きます）")).to_be_disabled()
    alerts.get_by_label("町の防災・防犯情報を、通知を受け取る端末に送る").check()
    alerts.get_by_label("防犯", exact=True).uncheck()
    alerts.get_by_role("button", name="防災・防犯情報の通知を保存する").click()
    expect(page.locator(".notice")).to_contain_text("町の防災・防犯情報を通知します")
    expect(alerts.get_by_label("防犯", exact=True)).not_to_be_checked()
    expect(alerts.get_by_label("子育て")).to_be_checked()
    check_accessibility(page)
    status, choices = server.api("GET", "/v1/me/alert-push", None, server.token(email))
    assert status == 200 and choices["enabled"] and "crime" not in choices["categories"], choices
    assert {"disaster", "parenting"} <= set(choices["categories"]) and choices["areas"] == [], choices

    page.get_by_label("現在のパスワード").fill("wrong password")
    page.get_by_label("新しいパスワード").fill("新しい合言葉 2026")
    page.get_by_role("button", name="パスワードを変更する").click()
    expect(page.get_by_role("alert")).to_contain_text("現在のパスワードが違います")
    check_accessibility(page)

    page.get_by_label("現在のパスワード").fill(PASSWORD)
    page.get_by_label("新しいパスワード").fill("新しい合言葉 2026")
    page.get_by_role("button", name="パスワードを変更する").click()
    expect(page.locator(".notice")).to_contain_text("パスワードを変更しました")
    # This phone stays signed in; the PC is signed out.
    expect(page.get_by_role("heading", level=1)).to_have_text("マイページ")
    other.goto(server.url + "/me")
    expect(other).to_have_url(re.compile(r"/login\?next="))
    phone.close()
    desktop.close()


FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures"


def test_a_resident_posts_a_phone_photo_that_shows_upright_without_its_location(server, browser):
    """The photo goes through the form's picker, the server strips its EXIF (GPS, camera,
    owner) but keeps its orientation: Chromium, an image decoder we did not write, draws it
    turned as the phone took it. An iPhone's HEIC photo is converted to JPEG and stands as
    the phone showed it; a broken one is refused in Japanese, in the form."""
    context = browser.new_context(viewport=PHONE, locale="ja-JP", is_mobile=True, has_touch=True)
    page = context.new_page()
    sign_up(page, server, "高橋 美咲", unique("misaki"))
    create_group(page, "西地区 ペットの会", "地域", "西地区")

    picker = page.get_by_label(re.compile("写真・PDF"))
    # A portrait photo in HEIC (16×8 pixels with an irot of 270°, GPS in its EXIF).
    picker.set_input_files(str(FIXTURES / "portrait.heic"))
    expect(page.locator("[data-attach-list]")).to_contain_text("portrait.jpg を添付しました。")
    broken = FIXTURES.parent.parent / ".build" / "iphone.heic"
    broken.write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64))
    picker.set_input_files(str(broken))
    expect(page.locator("[data-attach-list] li.error")).to_contain_text("ファイルが壊れているか")
    # The wrong photo first: 取り消す takes it off the form and off the server at once.
    picker.set_input_files(str(FIXTURES / "photo-with-gps.jpg"))
    expect(page.locator("[data-attach-list]")).to_contain_text("photo-with-gps.jpg を添付しました。")
    with page.expect_response(lambda r: "/attachments/" in r.url and r.request.method == "DELETE") as withdrawn:
        page.get_by_role("button", name="photo-with-gps.jpg の添付を取り消す").click()
    assert withdrawn.value.status == 204, withdrawn.value.status
    expect(page.locator('input[name="attachment"]')).to_have_count(1)  # the converted HEIC's
    picker.set_input_files(str(FIXTURES / "photo-with-gps.jpg"))
    expect(page.locator("[data-attach-list]")).to_contain_text("photo-with-gps.jpg を添付しました。")
    check_accessibility(page)
    start_thread(page, "迷子の猫を探しています", "茶色のしま模様の猫です。見かけたら教えてください。")

    image = post_item(page, "茶色のしま模様").get_by_role("img", name="写真: photo-with-gps.jpg")
    expect(image).to_be_visible()
    # 16×8 pixels stored with orientation 6 (turned a quarter): shown 8 wide and 16 high.
    size = image.evaluate("img => img.complete ? [img.naturalWidth, img.naturalHeight] : null")
    assert size == [8, 16], size
    converted = post_item(page, "茶色のしま模様").get_by_role("img", name="写真: portrait.jpg")
    expect(converted).to_be_visible()
    size = converted.evaluate("img => img.complete ? [img.naturalWidth, img.naturalHeight] : null")
    assert size == [8, 16], size
    body = page.request.get(server.url + converted.get_attribute("src")).body()
    assert body[:3] == b"\xff\xd8\xff" and b"Exif" not in body and b"SN-0042" not in body
    stored = page.request.get(server.url + image.get_attribute("src"))
    assert stored.headers["x-content-type-options"] == "nosniff"
    body = stored.body()
    for secret in (b"SN-0042", b"KairanCam", b"Minamichita", b"MOTIONVIDEO", b"GPS"):
        assert secret not in body, secret
    check_accessibility(page)
    screenshot(page, "thread-photo")
    context.close()
