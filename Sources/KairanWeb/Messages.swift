import Hummingbird
import KairanCore
import KairanServices

/// What a refusal says to a person, in Japanese: the API's catalogue (`ErrorText`) for its
/// codes, and the page's own words where a page says more.
enum Messages {
    static func describe(_ error: ServiceError) -> (HTTPResponse.Status, String) {
        switch error {
        case .notFound: return (.notFound, "お探しのページは見つからないか、見る権限がありません。")
        case .forbidden: return (.forbidden, "この操作を行う権限がありません。")
        case .unauthenticated: return (.unauthorized, "ログインしてください。")
        case .invalidCredentials: return (.unauthorized, "メールアドレスまたはパスワードが正しくありません。")
        case .missing: return (.notFound, "お探しのものは見つかりませんでした。")
        case .conflict(let code, _, let field): return (.conflict, ErrorText.japanese(code: code, field: field))
        case .refused(let code, _): return (.forbidden, ErrorText.japanese(code: code))
        case .invalid(let code, _, let field): return (.unprocessableContent, ErrorText.japanese(code: code, field: field))
        case .fileRefused(let code, _, let unsupportedType):
            return (unsupportedType ? .unsupportedMediaType : .contentTooLarge, ErrorText.japanese(code: code))
        case .rateLimited(_, let retryAfter):
            let minutes = max(1, (retryAfter + 59) / 60)
            return (.tooManyRequests, "試行が多すぎます。\(minutes) 分ほど待ってから、もう一度お試しください。")
        }
    }

    /// The API's Japanese for a rule of the input, from the one catalogue both share.
    static func describe(_ error: ValidationError) -> String {
        error.message(in: .ja)
    }

    static let reactionLabels: [Reaction: String] = [.like: "いいね", .thanks: "ありがとう", .agree: "賛成", .smile: "にっこり", .sad: "かなしい"]

    static let flagReasons: [(FlagReason, String)] = [
        (.spam, "宣伝・スパム"), (.harassment, "嫌がらせ・誹謗中傷"), (.personalInfo, "個人情報の書き込み"), (.inappropriate, "不適切な内容"), (.other, "その他"),
    ]

    static func kind(_ kind: GroupKind) -> String { kind == .parenting ? "子育て" : "地域" }

    static func joinPolicy(_ policy: JoinPolicy) -> String {
        switch policy {
        case .open: return "だれでも参加できます"
        case .approval: return "参加には承認が必要です"
        case .invite: return "招待制"
        }
    }
}

extension Messages {
    /// One line for a notification in one's list.
    static func notification(_ item: NotificationView) -> String {
        let who = item.data.author?.displayName
        switch item.kind {
        case "mention": return "\(who ?? "だれか")さんがあなたに言及しました" + (item.data.excerpt.map { "：「\($0)」" } ?? "")
        case "reply": return "\(who ?? "だれか")さんがあなたの投稿に返信しました" + (item.data.excerpt.map { "：「\($0)」" } ?? "")
        case "group.invited": return "グループ「\(item.data.groupName ?? "")」に招待されました"
        case "flag.outcome": return item.data.outcome == "removed" ? "通報した投稿は削除されました" : "通報した投稿を確認しました"
        case "moderation.removed": return "あなたの投稿がモデレーターにより削除されました"
        case "moderation.warning": return "モデレーターから注意がありました"
        case "moderation.suspended": return "投稿機能が一時停止されました"
        case "moderation.approved": return "保留中だった投稿が公開されました"
        case "event.reminder": return "明日は行事「\(item.data.excerpt ?? "")」です"
        case "event.changed": return "行事「\(item.data.excerpt ?? "")」の日時または場所が変わりました"
        case "event.cancelled": return "行事「\(item.data.excerpt ?? "")」は中止になりました" + (item.data.reason.map { "（\($0)）" } ?? "")
        case "weather.pending": return "気象警報のメール「\(item.data.excerpt ?? "")」が送信の判断を待っています"
        default: return "新しいお知らせがあります"
        }
    }
}

extension Messages {
    /// The line shown after a form's redirect (`?m=…`): fixed texts, never taken from the URL.
    static func done(_ path: String) -> String? {
        guard let query = path.split(separator: "?", maxSplits: 1).dropFirst().first else { return nil }
        for pair in query.split(separator: "&") where pair.hasPrefix("m=") {
            return doneTexts[String(pair.dropFirst(2))]
        }
        return nil
    }

    static func eventAnswer(_ answer: EventAnswer) -> String {
        switch answer {
        case .going: return "参加"
        case .maybe: return "未定"
        case .notGoing: return "不参加"
        }
    }

    static let doneTexts: [String: String] = [
        "weather-discarded": "気象警報のメールを送らないことにしました。", "file-withdrawn": "添付ファイルを取り下げました。メールのリンクを開くと「取り下げられました」と表示されます。", "event-created": "行事を作成しました。", "event-changed": "行事の内容を変更しました。", "event-answered": "出欠を送りました。", "event-cancelled": "行事を中止し、回答した方に知らせました。",
        "welcome": "登録が完了しました。ようこそ！", "created": "グループを作成しました。", "joined": "グループに参加しました。",
        "requested": "参加を申し込みました。管理者の承認をお待ちください。", "left": "グループを退会しました。",
        "posted": "投稿しました。", "edited": "投稿を編集しました。", "deleted": "投稿を削除しました。", "flagged": "通報しました。モデレーターが確認します。",
        "reacted": "リアクションしました。", "confirmed": "確認しました。学校・園に伝わりました。", "answered": "回答を送りました。",
        "linked": "お子さんを登録しました。", "decided": "対応を記録しました。", "saved": "保存しました。", "imported": "取り込みました。",
        "removed": "削除しました。", "submitted": "承認を依頼しました。管理職の承認後に送信されます。", "sent": "送信しました。",
        "scheduled": "送信を予約しました。", "approved": "承認しました。", "returned": "差し戻しました。",
        "reported": "連絡を送りました。先生が確認すると、ここに表示されます。", "acknowledged": "確認済みにしました。保護者に伝わります。",
        "delivery": "受け取り方を保存しました。", "password": "パスワードを変更しました。ほかの端末ではログアウトしました。", "push-added": "この端末でお知らせの通知を受け取ります。", "push-removed": "その端末には通知を送らなくなりました。", "alert-push": "町の防災・防犯情報を通知します。",
        "alert-push-off": "町の防災・防犯情報の通知を止めました。", "granted": "役割を与えました。",
        "approved-member": "参加を承認しました。", "denied-member": "申し込みを断りました。",
        "invited": "招待しました。その宛先で登録している人に、お知らせが届きます。", "withdrawn": "招待を取り消しました。",
        "banned": "参加を禁止しました。", "lifted": "禁止を解除しました。", "member-removed": "メンバーから外しました。", "suspension-lifted": "利用停止を解除しました。本人に伝わります。", "declined": "招待を断りました。",
    ]
}

extension Messages {
    /// What to tell someone whose form was refused for what they wrote (a rule of the input,
    /// or a use case's `invalid`): the form is shown again with it. Nil for any other error,
    /// which `WebFrontEnd.respond` answers as a page.
    static func formRefusal(_ error: any Error) -> String? {
        if let error = error as? ValidationError { return describe(error) }
        if let error = error as? ServiceError, case .invalid = error { return describe(error).1 }
        return nil
    }

    /// `formRefusal`, and also a clash with what exists (a name taken, already a member):
    /// for forms that name something, where the person can change what they typed.
    static func formOrConflictRefusal(_ error: any Error) -> String? {
        if let message = formRefusal(error) { return message }
        if let error = error as? ServiceError, case .conflict = error { return describe(error).1 }
        return nil
    }

    /// A text's lines, for one paragraph each. Any line break counts: a textarea posts
    /// "\r\n", which Swift holds as one Character, not as "\n".
    static func lines(_ text: String) -> [String] {
        text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).map(String.init)
    }
}
