/// The languages refusals are written in. The codes stay the same in every language; only
/// the `message` beside them changes, so an app can show it as it is.
public enum MessageLanguage: String, Sendable, CaseIterable {
    case ja, en

    /// What a refusal is written in when the client states no usable preference: the town's.
    public static let standard = MessageLanguage.ja

    /// The language an `Accept-Language` header (RFC 9110 §12.5.4) prefers among ours: the
    /// highest weight wins, the earlier range on a tie; `*` and anything we do not have
    /// fall back to Japanese; `q=0` rules a language out.
    public static func negotiate(_ header: String?) -> MessageLanguage {
        guard let header, header.utf8.count <= 1024 else { return standard }
        var best: (language: MessageLanguage, weight: Double)?
        var excluded: Set<MessageLanguage> = []
        for item in header.split(separator: ",").prefix(32) {
            let parts = item.split(separator: ";")
            guard let range = parts.first?.trimmed().lowercased(), !range.isEmpty else { continue }
            var weight = 1.0
            for parameter in parts.dropFirst() {
                let pair = parameter.trimmed().lowercased()
                if pair.hasPrefix("q="), let value = Double(pair.dropFirst(2)), (0...1).contains(value) { weight = value }
            }
            let primary = range.split(separator: "-").first.map(String.init) ?? range
            let language = primary == "*" ? standard : MessageLanguage(rawValue: primary)
            guard let language else { continue }
            if weight == 0 {
                excluded.insert(language)
                continue
            }
            if best == nil || weight > best!.weight { best = (language, weight) }
        }
        if let best, !excluded.contains(best.language) { return best.language }
        return excluded.contains(standard) && !excluded.contains(.en) ? .en : standard
    }
}

private extension Substring {
    /// Without the spaces and tabs around it (the header's optional white space).
    func trimmed() -> String {
        let start = firstIndex { $0 != " " && $0 != "\t" } ?? endIndex
        let end = lastIndex { $0 != " " && $0 != "\t" }.map { index(after: $0) } ?? start
        return String(self[start..<end])
    }
}

/// What every error code says in Japanese: one catalogue for the JSON API (when the client
/// asks for Japanese, the default) and for the web pages. The English messages are written
/// where the error is raised, often with the exact limit; a Japanese one that needs such a
/// detail is raised with the error too (`ValidationError.japanese`), and this catalogue is
/// the rest.
public enum ErrorText {
    /// The Japanese sentence for `code`, naming `field` when the code is about one.
    public static func japanese(code: String, field: String? = nil) -> String {
        if let field, let template = aboutAField[code] {
            return template.replacing("{field}", with: fieldName(field))
        }
        if let text = byCode[code] { return text }
        if aboutAField[code] != nil { return "入力内容を確認してください。" }
        return "リクエストを処理できませんでした。"
    }

    /// Whether the catalogue has its own words for `code` (a test holds every code the server
    /// raises to this).
    public static func knows(_ code: String) -> Bool {
        byCode[code] != nil || aboutAField[code] != nil
    }

    /// A field of a request as a person calls it: 「本文」. A nested field (`form.deadline`) is
    /// named by its own name; one we have no word for is quoted as the API spells it.
    public static func fieldName(_ field: String) -> String {
        if let name = fieldNames[field] { return "「\(name)」" }
        if let last = field.split(separator: ".").last, let name = fieldNames[String(last)] { return "「\(name)」" }
        return "「\(field)」"
    }

    static let aboutAField: [String: String] = [
        "required": "{field}を入力してください。",
        "too_long": "{field}が長すぎます。",
        "too_short": "{field}が短すぎます。",
        "too_many": "{field}の数が上限を超えています。",
        "out_of_range": "{field}の値が範囲外です。",
        "invalid": "{field}の形式が正しくありません。",
        "invalid_characters": "{field}に使えない文字（改行以外の制御文字など）が含まれています。",
        "invalid_date": "{field}は 2026-04-08 のような日付で指定してください。",
        "invalid_time": "{field}は 07:00 のような時刻で指定してください。",
        "in_the_past": "{field}には、これから先の日時を指定してください。",
        "ends_before_start": "{field}は開始日時より後にしてください。",
        "deadline_after_start": "{field}は開始日時より前にしてください。",
        "bad_request": "{field}の指定が正しくありません。",
    ]

    static let byCode: [String: String] = [
        // The request itself.
        "bad_request": "リクエストの形式が正しくありません。",
        "payload_too_large": "送られた内容が大きすぎます。",
        "unsupported_media_type": "本文は application/json で送ってください。",
        "method_not_allowed": "この URL では、その操作は使えません。",
        "not_found": "見つかりません。存在しないか、見る権限がありません。",
        "request_timeout": "リクエストが時間内に届きませんでした。",
        "uri_too_long": "URL が長すぎます。",
        "headers_too_large": "リクエストのヘッダーが大きすぎます。",
        "upgrade_required": "この URL には WebSocket で接続してください。",
        "origin_not_allowed": "このサイトからは接続できません。",
        "idempotency_key_reused": "この Idempotency-Key は、別の内容の送信ですでに使われています。",
        "invalid_key": "冪等キーは 1〜100 文字で指定してください。",
        "push_endpoint_taken": "この通知の送り先は、別のアカウントの端末として登録されています。",
        "event_full": "定員に達したため、その人数では参加を受け付けられません。",
        "answers_closed": "この行事の出欠の受付は締め切られました。",
        "event_cancelled": "この行事は中止になりました。",
        "event_over": "この行事はすでに終わっています。",
        "invalid_endpoint": "通知の送り先（プッシュサービスの https アドレス）が正しくありません。",
        "invalid_push_key": "この端末の通知用の鍵が正しくありません。ブラウザで通知の登録をやり直してください。",
        "internal": "サーバーで処理を完了できませんでした。",
        "database_unavailable": "データベースに接続できません。変更が保存されたかを確かめてから、もう一度お試しください。",
        "timeout": "時間内に応答できませんでした。変更が保存されたかを確かめてから、もう一度お試しください。",
        "wrong_password": "現在のパスワードが違います。",
        "overloaded": "ただいま混み合っています。少し待ってから、もう一度お試しください。",
        "client_closed": "接続が切れたため、処理を取りやめました。",
        "rate_limited": "試行が多すぎます。しばらく待ってから、もう一度お試しください。",
        "too_many": "上限に達しているため、これ以上は追加できません。",
        "empty": "取り込む行がありません。",
        // Attachments.
        "unsupported_file_type": "添付できるのは写真（JPEG・PNG・WebP）と PDF だけです。",
        "heic_not_supported": "iPhone の HEIC 形式の写真は添付できません。ブラウザから写真を選ぶと JPEG で送られます。アプリから送る場合は、設定 → カメラ → フォーマット で「互換性優先」を選んでください。",
        "damaged_file": "ファイルが壊れているか、途中までしか届いていません。もう一度選び直してください。",
        "file_too_large": "ファイルが大きすぎます。",
        "empty_file": "ファイルが空です。",
        "image_too_large": "画像の画素数が多すぎます（5000万画素まで）。縮小してから添付してください。",
        "too_many_attachments": "添付できるファイルの数を超えています。",
        "unknown_attachment": "添付するファイルが見つかりません。アップロードし直してください。",
        "too_many_waiting_uploads": "投稿されていないアップロードが多すぎます。先に投稿するか、1日待ってください。",
        "alert_not_sent": "このメールはまだ送信されていません。ファイルを外すには、メールを取り消してから、ファイルを付けずに送り直してください。",
        "attachment_in_use": "このファイルはすでに投稿やお知らせに付いています。取り消すには、その投稿を削除してください。",
        // The live stream's error frames.
        "bad_message": "JSON のテキストメッセージを送ってください（例：{\"type\":\"subscribe\",\"stream\":\"group:1\"}）。",
        "bad_stream": "ストリームは group:<id>、thread:<id>、user:<id>、org:<id>、class:<id>、notice:<id>、alert:<id> の形で指定してください。",
        "bad_offset": "after には 0 以上を指定してください。",
        "unavailable": "いまはこの購読を確認できませんでした。もう一度購読してください。",
        "recheck_failed": "この購読を確認し直せませんでした。もう一度購読してください。",
        "too_many_subscriptions": "1つの接続で購読できるストリームの数を超えています。",
        // Accounts and sessions.
        "unauthenticated": "ログインしてください。",
        "invalid_token": "ログインの有効期限が切れたか、ログアウトされています。もう一度ログインしてください。",
        "invalid_credentials": "メールアドレスまたはパスワードが正しくありません。",
        "forbidden": "この操作を行う権限がありません。",
        "email_taken": "このメールアドレスはすでに登録されています。ログインしてください。",
        "invalid_email": "メールアドレスの形式が正しくありません（例：name@example.jp）。",
        "unknown_account": "そのアカウントは登録されていません。",
        "unknown_role": "指定された役割はありません。",
        "invalid_ticket": "接続用のチケットが正しくないか、使用済みか期限切れです。新しいチケットを取得してください。",
        // Groups, threads and posts.
        "already_member": "すでにこのグループに参加しています。",
        "last_owner": "グループには管理者が少なくとも1人必要です。先に別のメンバーを管理者にしてください。",
        "banned": "このグループへの参加は禁止されています。",
        "self_ban": "自分自身を参加禁止にはできません。",
        "invalid_join_policy": "非公開のグループは承認制にできません。招待制を選んでください。",
        "thread_locked": "このスレッドは締め切られています。",
        "post_deleted": "この投稿は削除されています。",
        "under_review": "確認中または非表示の投稿は変更できません。",
        "unknown_post": "指定された投稿がこのスレッドにありません。",
        "invalid_reply": "返信先の投稿がこのスレッドにありません。",
        "unknown_reaction": "そのリアクションは使えません。",
        "already_flagged": "この投稿はすでに通報済みです。",
        "blocked_word": "この内容は投稿できません。表現を見直してください。",
        "too_many_links": "リンクが多すぎます。",
        "suspended": "利用が一時停止されているため、投稿できません。",
        // Moderation.
        "already_decided": "この件はすでに判断されています。",
        "already_appealed": "削除への異議申し立ては一度だけできます。",
        "not_removed": "削除されている投稿ではないため、この操作はできません。",
        "already_town": "町のモデレーターが判断する項目です。",
        "not_active": "この利用停止はすでに終わっています。",
        "no_author": "投稿者のアカウントはすでにありません。",
        "invalid_decision": "判断は uphold（維持）か reverse（取り消し）で指定してください。",
        "invalid_scope": "範囲は group（グループ）か town（町全体）で指定してください。",
        "invalid_pattern": "ワイルドカードだけの語は登録できません。",
        "invalid_row": "取り込む行の形式が正しくありません（語,block|hold|flag[,fold]）。",
        // Schools, notices and households.
        "not_pending": "承認待ちではないため、この操作はできません。",
        "already_sent": "送信済みまたは取り消し済みのお知らせは、変更も取り消しもできません。",
        "changed_since_read": "読んだあとでお知らせが変更されました。もう一度読んでから確認してください。",
        "no_form": "このお知らせには回答フォームがありません。",
        "reply_closed": "回答の期限を過ぎています。",
        "invalid_choice": "この回答フォームでは選べない回答です。",
        "unexpected": "記述式の回答に選択肢は指定できません。",
        "deadline_before_release": "回答期限は、お知らせが送信される時刻より後にしてください。",
        "empty_targets": "送信先に登録済みの保護者がいないため、このお知らせはだれにも届きません。",
        "unknown_channel": "送信先のクラスや名簿は、この学校・園のものを指定してください。",
        "not_urgent": "承認を省けるのは緊急のお知らせだけです。",
        "may_not_skip_approval": "承認を省いて送信することは許可されていません。",
        "class_exists": "同じ名前のクラスがすでにあります。",
        "list_exists": "同じ名前の名簿がすでにあります。",
        "unknown_class": "この学校・園にそのクラスはありません。",
        "unknown_child": "この学校・園に在籍しているお子さんを指定してください。",
        "invalid_code": "登録コードが正しくないか、使用済みか期限切れです。",
        "household_conflict": "このお子さんはすでに別のアカウントで登録されています。学校・園にご相談ください。",
        "same_household": "この2人のお子さんは、すでに同じ家庭に登録されています。",
        "other_organization": "どちらかの家庭に、ほかの学校・園に在籍するお子さんがいるため、ここでは統合できません。保護者が登録コードで登録してください。",
        "same_child": "同じ家庭の、別のお子さんを指定してください。",
        "last_admin": "組織の最後の管理者は外せません。",
        "last_admin_or_not_staff": "この組織の職員ではないか、最後の管理者のため外せません。",
        "unknown_reason": "その欠席・遅刻の理由は選べません。",
        // Alerts and mail.
        "unknown_category": "指定された種別がありません。",
        "unknown_area": "指定された地区がありません。",
        "invalid_charset": "文字コードは utf-8 か iso-2022-jp を指定してください。",
    ]

    /// Request fields in the words the pages use.
    public static let fieldNames: [String: String] = [
        "label": "端末の名前", "endpoint": "通知の送り先", "email": "メールアドレス", "password": "パスワード", "currentPassword": "現在のパスワード", "newPassword": "新しいパスワード", "displayName": "表示名", "name": "名前", "title": "タイトル",
        "body": "本文", "description": "説明", "area": "地区", "areas": "地区", "q": "検索語", "note": "補足", "reason": "理由",
        "message": "メッセージ", "choices": "選択", "code": "登録コード", "text": "回答", "pattern": "語", "comment": "コメント",
        "category": "種別", "categories": "種別", "subject": "件名", "phone": "電話番号", "day": "日付", "grade": "学年",
        "classId": "クラス", "childIds": "お子さん", "targets": "送信先", "grades": "学年", "sendAt": "送信日時",
        "deadline": "回答期限", "options": "選択肢", "question": "質問", "until": "停止の終わり", "durationHours": "停止時間",
        "role": "役割", "reaction": "リアクション", "replyTo": "返信先", "lastReadPostId": "既読の位置", "joinPolicy": "参加方法",
        "position": "表示順", "quietHours": "夜間の通知を控える時間", "receiveWindow": "受け取る時間帯", "escalateAfterMinutes": "督促までの時間",
        "absenceReasons": "欠席・遅刻の理由", "autoHideScore": "自動非表示の基準", "newAccountDays": "新規アカウントの期間",
        "newAccountPostsPerHour": "新規アカウントの投稿数", "adminEmail": "管理者のメールアドレス", "adminAccountId": "管理者",
        "ids": "対象", "idempotencyKey": "冪等キー", "skipApprovalReason": "承認を省く理由", "withChildId": "もう一人のお子さん",
        "siblingOf": "きょうだい", "charset": "文字コード", "scope": "範囲", "decision": "判断", "visibility": "公開範囲", "kind": "種類",
        "urgent": "緊急", "form": "回答フォーム", "mandatory": "必須", "archived": "廃止",
        "place": "場所", "startsAt": "開始日時", "endsAt": "終了日時", "capacity": "定員", "answerDeadline": "回答の締め切り", "answer": "出欠",
        "headCount": "人数", "remindByMail": "メールでのお知らせ", "when": "時期",
    ]
}
