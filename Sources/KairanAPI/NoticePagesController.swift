import Foundation
import Hummingbird
import KairanCore
import KairanServices
import KairanStore
import Logging

/// The page a guardian reaches from the link in a notice mail (`/n/<token>`): the notice,
/// a confirm button, the reply form for each of their children, and an absence report
/// (欠席・遅刻・早退) for any of the household's children at that school. Plain HTML forms that
/// work on feature phones. Opening the page counts as opened; only the button (a POST)
/// confirms, so mail scanners that fetch every link never confirm for a family.
struct NoticePagesController {
    let dependencies: APIDependencies

    func addRoutes(to routes: some RouterMethods<KairanRequestContext>) {
        routes.get("/n/{token}", use: page)
        routes.post("/n/{token}", use: submit)
        routes.get("/n/{token}/files/{attachmentID}", use: file)
    }

    /// One of the notice's files, for the holder of the mail's link.
    @Sendable func file(_ request: Request, context: KairanRequestContext) async throws -> Response {
        guard let id = context.parameters.get("attachmentID", as: AttachmentID.self) else { return HTMLPage.notFound }
        do {
            return Response.attachment(try await dependencies.services.attachments.download(
                mailToken: context.parameters.get("token") ?? "", id, logger: context.logger))
        } catch ServiceError.notFound {
            return HTMLPage.notFound
        }
    }

    var notices: GuardianNoticeService { dependencies.services.guardianNotices }
    var absences: AbsenceService { dependencies.services.absences }

    /// The mail link's token, as the service's reader.
    func reader(_ context: KairanRequestContext) -> GuardianNoticeService.Reader {
        .mailToken(context.parameters.get("token") ?? "")
    }

    @Sendable func page(_ request: Request, context: KairanRequestContext) async throws -> Response {
        do {
            let token = context.parameters.get("token") ?? ""
            let notice = try await notices.open(reader(context), logger: context.logger)
            return render(notice, token: token, absence: try await absences.mailForm(token: token, logger: context.logger), message: nil)
        } catch ServiceError.notFound {
            return HTMLPage.notFound
        }
    }

    /// `action=confirm`; `action=answer` with `choice_<child>` / `text_<child>` fields; or
    /// `action=absence` with `child`, `kind`, `day`, `reason` and `note`.
    @Sendable func submit(_ request: Request, context: KairanRequestContext) async throws -> Response {
        let form = try await Form.read(request, context: context)
        let token = context.parameters.get("token") ?? ""
        let reader = reader(context)
        do {
            let absence = try await absences.mailForm(token: token, logger: context.logger)
            func render(_ notice: GuardianNoticeView, message: String, status: HTTPResponse.Status = .ok) -> Response {
                self.render(notice, token: token, absence: absence, message: message, status: status)
            }
            do {
                return try await act(form, reader: reader, token: token, render: render, logger: context.logger)
            } catch let error as ServiceError where error != .notFound {
                var text = "入力内容を確認してください。"
                if case .conflict(code: "reply_closed", _, _) = error { text = "回答の締切を過ぎています。" }
                return render(try await notices.view(reader, logger: context.logger), message: text, status: APIError(error).status)
            } catch let error as ValidationError {
                return render(try await notices.view(reader, logger: context.logger), message: "入力内容を確認してください。",
                              status: APIError.validation(error).status)
            }
        } catch ServiceError.notFound {
            return HTMLPage.notFound
        }
    }

    private func act(
        _ form: Form, reader: GuardianNoticeService.Reader, token: String,
        render: (GuardianNoticeView, String, HTTPResponse.Status) -> Response, logger: Logger
    ) async throws -> Response {
        do {
            switch form["action"] {
            case "confirm":
                return render(try await notices.confirm(reader, logger: logger), "確認しました。ありがとうございました。", .ok)
            case "absence":
                guard let child = form["child"].flatMap({ ChildID($0) }), let kind = form["kind"].flatMap(AbsenceKind.init(rawValue:)) else {
                    return render(try await notices.view(reader, logger: logger), "お子さまと種類を選んでください。", .unprocessableContent)
                }
                let report = AbsenceService.Report(kind: kind, day: form["day"] ?? "", reason: form["reason"] ?? "", note: form["note"])
                let record = try await absences.reportByMail(token: token, child: child, report, logger: logger)
                return render(try await notices.view(reader, logger: logger),
                              "\(record.childName)さんの\(Self.label(kind))（\(record.day)）を学校に連絡しました。", .ok)
            case "answer":
                // The household's children the notice is for, as the form listed them.
                var answers: [ChildID: GuardianNoticeService.Answer] = [:]
                for child in try await notices.view(reader, logger: logger).children ?? [] {
                    let choices = form.all("choice_\(child.childId)").compactMap { Int($0) }
                    let text = form["text_\(child.childId)"].flatMap { $0.isEmpty ? nil : $0 }
                    guard !choices.isEmpty || text != nil else { continue }
                    answers[child.childId] = .init(choices: choices, text: text)
                }
                return render(try await notices.answer(reader, answers, logger: logger), "回答を受け付けました。締切までは変更できます。", .ok)
            default:
                return render(try await notices.view(reader, logger: logger), "入力内容を確認してください。", .badRequest)
            }
        }
    }

    static func label(_ kind: AbsenceKind) -> String {
        switch kind {
        case .absent: "欠席"
        case .late: "遅刻"
        case .earlyLeave: "早退"
        }
    }

    func render(
        _ notice: GuardianNoticeView, token: String, absence: AbsenceService.MailForm?, message: String?, status: HTTPResponse.Status = .ok
    ) -> Response {
        let action = "/n/" + HTMLPage.escape(token)
        var body = "<p>\(HTMLPage.escape(notice.organizationName))</p>"
        if let message { body += "<p><strong>\(HTMLPage.escape(message))</strong></p>" }
        body += "<h2>\(notice.urgent ? "【緊急】" : "")\(HTMLPage.escape(notice.title))</h2>"
        body += "<p>" + HTMLPage.escape(notice.body).replacingOccurrences(of: "\n", with: "<br>") + "</p>"
        if let files = notice.attachments, !files.isEmpty {
            // Links, not inline pictures: a feature phone opens what its owner chooses.
            body += "<h2>添付ファイル</h2><ul>"
            for file in files {
                body += "<li><a href=\"\(action)/files/\(file.id)\">\(HTMLPage.escape(file.filename))</a>（\(file.kind?.label ?? "ファイル")・\(AttachmentKind.sizeText(file.byteSize))）</li>"
            }
            body += "</ul>"
        }
        if notice.confirmedAt != nil || notice.householdConfirmed {
            body += "<p>確認済みです。</p>"
        } else {
            body += """
                <form method="post" action="\(action)"><input type="hidden" name="action" value="confirm">
                <input type="submit" value="確認しました"></form>
                """
        }
        if let form = notice.form {
            body += "<h2>\(HTMLPage.escape(form.question))</h2><form method=\"post\" action=\"\(action)\"><input type=\"hidden\" name=\"action\" value=\"answer\">"
            for answer in notice.children ?? [] {
                body += "<p>\(HTMLPage.escape(answer.childName))</p>"
                switch form.kind {
                case .single, .multiple:
                    let type = form.kind == .single ? "radio" : "checkbox"
                    for (index, option) in form.options.enumerated() {
                        let checked = answer.choices.contains(index) ? " checked" : ""
                        body += "<label><input type=\"\(type)\" name=\"choice_\(answer.childId)\" value=\"\(index)\"\(checked)> \(HTMLPage.escape(option))</label><br>"
                    }
                case .text:
                    body += "<input type=\"text\" name=\"text_\(answer.childId)\" maxlength=\"500\" value=\"\(HTMLPage.escape(answer.text ?? ""))\"><br>"
                }
            }
            if let deadline = form.deadline { body += "<p>締切: \(HTMLPage.escape(Self.format(deadline)))</p>" }
            body += "<input type=\"submit\" value=\"回答する\"></form>"
        }
        if let absence, !absence.children.isEmpty {
            body += "<h2>欠席・遅刻・早退の連絡</h2><form method=\"post\" action=\"\(action)\"><input type=\"hidden\" name=\"action\" value=\"absence\">"
            for (index, child) in absence.children.enumerated() {
                let checked = index == 0 ? " checked" : ""
                let className = child.className.map { "（\(HTMLPage.escape($0))）" } ?? ""
                body += "<label><input type=\"radio\" name=\"child\" value=\"\(child.id)\"\(checked)> \(HTMLPage.escape(child.name))\(className)</label><br>"
            }
            body += "<label>種類 <select name=\"kind\">"
            for kind in AbsenceKind.allCases { body += "<option value=\"\(kind.rawValue)\">\(Self.label(kind))</option>" }
            body += "</select></label><br>"
            body += "<label>日付 <input type=\"text\" name=\"day\" value=\"\(HTMLPage.escape(absence.today))\" maxlength=\"10\" inputmode=\"numeric\"></label> （例: 2026-04-08）<br>"
            body += "<label>理由 <select name=\"reason\">"
            for reason in absence.reasons { body += "<option value=\"\(HTMLPage.escape(reason))\">\(HTMLPage.escape(reason))</option>" }
            body += "</select></label><br>"
            body += "<label>連絡事項 <textarea name=\"note\" rows=\"3\" maxlength=\"500\"></textarea></label><br>"
            body += "<input type=\"submit\" value=\"連絡する\"></form>"
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
