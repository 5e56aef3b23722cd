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

    func addRoutes(to routes: some RouterMethods<KairanRequestContext>) {
        routes.get("/n/{token}", use: page)
        routes.post("/n/{token}", use: submit)
    }

    var notices: GuardianNoticeService { dependencies.services.guardianNotices }

    /// The mail link's token, as the service's reader.
    func reader(_ context: KairanRequestContext) -> GuardianNoticeService.Reader {
        .mailToken(context.parameters.get("token") ?? "")
    }

    @Sendable func page(_ request: Request, context: KairanRequestContext) async throws -> Response {
        do {
            let notice = try await notices.open(reader(context), logger: context.logger)
            return render(notice, token: context.parameters.get("token") ?? "", message: nil)
        } catch ServiceError.notFound {
            return HTMLPage.notFound
        }
    }

    /// `action=confirm`, or `action=answer` with `choice_<child>` / `text_<child>` fields.
    @Sendable func submit(_ request: Request, context: KairanRequestContext) async throws -> Response {
        let form = try await Form.read(request, context: context)
        let token = context.parameters.get("token") ?? ""
        let reader = reader(context)
        do {
            switch form["action"] {
            case "confirm":
                return render(try await notices.confirm(reader, logger: context.logger), token: token, message: "確認しました。ありがとうございました。")
            case "answer":
                // The household's children the notice is for, as the form listed them.
                var answers: [ChildID: GuardianNoticeService.Answer] = [:]
                for child in try await notices.view(reader, logger: context.logger).children ?? [] {
                    let choices = form.all("choice_\(child.childId)").compactMap { Int($0) }
                    let text = form["text_\(child.childId)"].flatMap { $0.isEmpty ? nil : $0 }
                    guard !choices.isEmpty || text != nil else { continue }
                    answers[child.childId] = .init(choices: choices, text: text)
                }
                return render(try await notices.answer(reader, answers, logger: context.logger), token: token,
                              message: "回答を受け付けました。締切までは変更できます。")
            default:
                return render(try await notices.view(reader, logger: context.logger), token: token, message: "入力内容を確認してください。", status: .badRequest)
            }
        } catch ServiceError.notFound {
            return HTMLPage.notFound
        } catch let error as ServiceError {
            var text = "入力内容を確認してください。"
            if case .conflict(code: "reply_closed", _, _) = error { text = "回答の締切を過ぎています。" }
            return render(try await notices.view(reader, logger: context.logger), token: token, message: text, status: APIError(error).status)
        } catch let error as ValidationError {
            return render(try await notices.view(reader, logger: context.logger), token: token, message: "入力内容を確認してください。",
                          status: APIError.validation(error).status)
        }
    }

    func render(_ notice: GuardianNoticeView, token: String, message: String?, status: HTTPResponse.Status = .ok) -> Response {
        let action = "/n/" + HTMLPage.escape(token)
        var body = "<p>\(HTMLPage.escape(notice.organizationName))</p>"
        if let message { body += "<p><strong>\(HTMLPage.escape(message))</strong></p>" }
        body += "<h2>\(notice.urgent ? "【緊急】" : "")\(HTMLPage.escape(notice.title))</h2>"
        body += "<p>" + HTMLPage.escape(notice.body).replacingOccurrences(of: "\n", with: "<br>") + "</p>"
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
