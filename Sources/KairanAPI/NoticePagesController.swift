import Foundation
import Hummingbird
import KairanCore
import KairanServices
import KairanStore

/// The page a guardian reaches from the link in a notice mail (`/n/<token>`): the notice,
/// a confirm button, and the reply form for each of their children. Plain HTML forms that
/// work on feature phones. Opening the page counts as opened; only the button (a POST)
/// confirms, so mail scanners that fetch every link never confirm for a family.
struct NoticePagesController {
    let dependencies: APIDependencies
    var database: Database { dependencies.database }

    func addRoutes(to routes: some RouterMethods<KairanRequestContext>) {
        routes.get("/n/{token}", use: page)
        routes.post("/n/{token}", use: submit)
    }

    func recipient(_ context: KairanRequestContext) async throws -> NoticeRecipientRecord? {
        guard let token = context.parameters.get("token"), token.utf8.count <= 64 else { return nil }
        return try await database.withConnection { connection in
            try await NoticeRecipientStore.recipient(token: token, on: connection, logger: context.logger)
        }
    }

    @Sendable func page(_ request: Request, context: KairanRequestContext) async throws -> Response {
        guard let recipient = try await recipient(context) else { return HTMLPage.notFound }
        let now = dependencies.clock.now()
        try await database.withTransaction { connection in
            try await NoticeActions.open(recipient, now: now, on: connection, logger: context.logger)
        }
        return try await render(recipient, token: context.parameters.get("token") ?? "", message: nil, context: context)
    }

    /// `action=confirm`, or `action=answer` with `choice_<child>` / `text_<child>` fields.
    @Sendable func submit(_ request: Request, context: KairanRequestContext) async throws -> Response {
        let form = try await Form.read(request, context: context)
        guard let recipient = try await recipient(context) else { return HTMLPage.notFound }
        let token = context.parameters.get("token") ?? ""
        let now = dependencies.clock.now()
        var message = "確認しました。ありがとうございました。"
        do {
            try await database.withTransaction { connection in
                switch form["action"] {
                case "confirm":
                    try await NoticeActions.confirm(recipient, now: now, on: connection, logger: context.logger)
                case "answer":
                    guard let notice = try await NoticeStore.find(recipient.noticeID, organization: recipient.organizationID, on: connection, logger: context.logger),
                          let replyForm = notice.form else { throw APIError.badRequest("this notice has no reply form") }
                    let children = try await NoticeRecipientStore.children(notice: notice.id, household: recipient.householdID, on: connection, logger: context.logger)
                    for (child, _) in children {
                        let choices = form.all("choice_\(child)").compactMap { Int($0) }
                        let text = form["text_\(child)"].flatMap { $0.isEmpty ? nil : $0 }
                        guard !choices.isEmpty || text != nil else { continue }
                        let (valid, cleaned) = try NoticeActions.validate(choices: choices, text: text, form: replyForm, now: now)
                        try await NoticeRecipientStore.saveAnswer(notice: notice.id, child: child, guardian: recipient.guardianID, choices: valid,
                                                                  text: cleaned, now: now, on: connection, logger: context.logger)
                    }
                    message = "回答を受け付けました。締切までは変更できます。"
                default:
                    throw APIError.badRequest("unknown action")
                }
            }
        } catch let error as APIError {
            let text = error.code == "reply_closed" ? "回答の締切を過ぎています。" : "入力内容を確認してください。"
            return try await render(recipient, token: token, message: text, status: error.status, context: context)
        }
        return try await render(recipient, token: token, message: message, context: context)
    }

    func render(
        _ recipient: NoticeRecipientRecord, token: String, message: String?, status: HTTPResponse.Status = .ok, context: KairanRequestContext
    ) async throws -> Response {
        let loaded = try await database.withConnection { connection in
            try await NoticeActions.view(recipient, on: connection, logger: context.logger)
        }
        guard let (notice, organizationName, fresh, answers) = loaded else { return HTMLPage.notFound }
        let action = "/n/" + HTMLPage.escape(token)
        var body = "<p>\(HTMLPage.escape(organizationName))</p>"
        if let message { body += "<p><strong>\(HTMLPage.escape(message))</strong></p>" }
        body += "<h2>\(notice.urgent ? "【緊急】" : "")\(HTMLPage.escape(notice.title))</h2>"
        body += "<p>" + HTMLPage.escape(notice.body).replacingOccurrences(of: "\n", with: "<br>") + "</p>"
        if fresh.confirmedAt != nil || fresh.householdConfirmed {
            body += "<p>確認済みです。</p>"
        } else {
            body += """
                <form method="post" action="\(action)"><input type="hidden" name="action" value="confirm">
                <input type="submit" value="確認しました"></form>
                """
        }
        if let form = notice.form {
            body += "<h2>\(HTMLPage.escape(form.question))</h2><form method=\"post\" action=\"\(action)\"><input type=\"hidden\" name=\"action\" value=\"answer\">"
            for answer in answers {
                body += "<p>\(HTMLPage.escape(answer.childName))</p>"
                switch form.kind {
                case .single, .multiple:
                    let type = form.kind == .single ? "radio" : "checkbox"
                    for (index, option) in form.options.enumerated() {
                        let checked = answer.choices.contains(index) ? " checked" : ""
                        body += "<label><input type=\"\(type)\" name=\"choice_\(answer.childID)\" value=\"\(index)\"\(checked)> \(HTMLPage.escape(option))</label><br>"
                    }
                case .text:
                    body += "<input type=\"text\" name=\"text_\(answer.childID)\" maxlength=\"500\" value=\"\(HTMLPage.escape(answer.text ?? ""))\"><br>"
                }
            }
            if let deadline = form.deadline { body += "<p>締切: \(HTMLPage.escape(Self.format(deadline)))</p>" }
            body += "<input type=\"submit\" value=\"回答する\"></form>"
        }
        return HTMLPage(title: "お知らせ", body: body).response(status: status)
    }

    static func format(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "ja_JP")
        formatter.timeZone = TimeZone(identifier: "Asia/Tokyo")
        formatter.dateFormat = "M月d日 H:mm"
        return formatter.string(from: date)
    }
}
