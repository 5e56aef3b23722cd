import Foundation
import Hummingbird
import NIOCore
import KairanCore
import KairanServices
import KairanStore

/// The pages a subscriber reaches from a link in a mail, on any phone (feature phones
/// included: plain HTML forms, no script). Unsubscribing takes a POST: link scanners that
/// open every URL in a mail must never unsubscribe anyone.
struct MailPagesController {
    let dependencies: APIDependencies
    var subscriptions: SubscriptionService { dependencies.services.subscriptions }

    func addRoutes(to routes: some RouterMethods<KairanRequestContext>) {
        routes.get("/u/{token}", use: unsubscribePage)
        routes.post("/u/{token}", use: unsubscribe)
        routes.get("/m/s/{token}", use: settingsPage)
        routes.post("/m/s/{token}", use: saveSettings)
        routes.post("/m/s/{token}/change", use: startAddressChange)
        routes.get("/m/c/{token}", use: confirm)
    }

    func subscriber(_ context: KairanRequestContext) async throws -> SubscriberRecord? {
        try await subscriptions.subscriber(token: context.parameters.get("token") ?? "", logger: context.logger)
    }

    @Sendable func unsubscribePage(_ request: Request, context: KairanRequestContext) async throws -> Response {
        guard let subscriber = try await subscriber(context) else { return HTMLPage.notFound }
        if subscriber.status == "unsubscribed" {
            return HTMLPage(title: "配信停止", body: "<p>このアドレスへの配信はすでに停止しています。</p>").response()
        }
        // The address is shown redacted; one that no longer parses is shown as "this address".
        return HTMLPage(title: "配信停止の確認", body: """
            <p>\(HTMLPage.escape((try? EmailAddress(subscriber.email))?.redacted ?? "このアドレス")) へのメール配信を停止しますか？</p>
            <form method="post" action="/u/\(HTMLPage.escape(subscriber.manageToken))">
            <input type="hidden" name="List-Unsubscribe" value="One-Click">
            <input type="submit" value="配信を停止する">
            </form>
            """).response()
    }

    /// RFC 8058 one-click (the mail client posts `List-Unsubscribe=One-Click`) and the
    /// confirmation page's button, which posts the same field.
    @Sendable func unsubscribe(_ request: Request, context: KairanRequestContext) async throws -> Response {
        let form = try await Form.read(request, context: context)
        guard form["List-Unsubscribe"] == "One-Click" else {
            return HTMLPage(title: "配信停止", body: "<p>リクエストが正しくありません。</p>").response(status: .badRequest)
        }
        guard try await subscriptions.unsubscribe(token: context.parameters.get("token") ?? "", logger: context.logger) else { return HTMLPage.notFound }
        return HTMLPage(title: "配信停止", body: "<p>配信を停止しました。ご利用ありがとうございました。</p>").response()
    }

    @Sendable func settingsPage(_ request: Request, context: KairanRequestContext) async throws -> Response {
        guard let subscriber = try await subscriber(context) else { return HTMLPage.notFound }
        return try await settingsResponse(subscriber, notice: nil, context: context)
    }

    func settingsResponse(_ subscriber: SubscriberRecord, notice: String?, context: KairanRequestContext) async throws -> Response {
        guard subscriber.status == "active" else {
            return HTMLPage(title: "配信設定", body: "<p>このアドレスへの配信は停止しています。再開するには、もう一度空メールを送って登録してください。</p>").response()
        }
        let (categories, areas) = try await subscriptions.choices(logger: context.logger)
        let token = HTMLPage.escape(subscriber.manageToken)
        var html = notice.map { "<p><strong>\(HTMLPage.escape($0))</strong></p>" } ?? ""
        html += "<form method=\"post\" action=\"/m/s/\(token)\"><h2>受け取る情報</h2>"
        for category in categories {
            if category.mandatory {
                html += "<p>\(HTMLPage.escape(category.name))（緊急情報のため必ず配信されます）</p>"
            } else {
                let checked = subscriber.categoryCodes.contains(category.code) ? " checked" : ""
                html += "<p><label><input type=\"checkbox\" name=\"category\" value=\"\(HTMLPage.escape(category.code))\"\(checked)> \(HTMLPage.escape(category.name))</label></p>"
            }
        }
        if !areas.isEmpty {
            html += "<h2>地区</h2><p>選ばない場合は町内すべての情報が届きます。</p>"
            for area in areas {
                let checked = subscriber.areaCodes.contains(area.code) ? " checked" : ""
                html += "<p><label><input type=\"checkbox\" name=\"area\" value=\"\(HTMLPage.escape(area.code))\"\(checked)> \(HTMLPage.escape(area.name))</label></p>"
            }
        }
        html += "<h2>受信する時間帯</h2><p>緊急の情報は時間帯にかかわらず届きます。</p>"
        html += "<p>" + hourSelect("start", selected: subscriber.windowStart) + " から " + hourSelect("end", selected: subscriber.windowEnd) + " まで</p>"
        let jis = subscriber.charset == "iso-2022-jp"
        html += """
            <h2>文字コード</h2>
            <p><label><input type="radio" name="charset" value="utf-8"\(jis ? "" : " checked")> 標準（スマートフォン）</label></p>
            <p><label><input type="radio" name="charset" value="iso-2022-jp"\(jis ? " checked" : "")> 携帯電話（ISO-2022-JP）</label></p>
            <p><input type="submit" value="保存する"></p></form>
            <form method="post" action="/m/s/\(token)/change"><p><input type="submit" value="メールアドレスを変更する"></p></form>
            <p><a href="/u/\(token)">配信を停止する</a></p>
            """
        return HTMLPage(title: "配信設定", body: html).response()
    }

    private func hourSelect(_ name: String, selected: Int?) -> String {
        var html = "<select name=\"\(name)\"><option value=\"\">指定なし</option>"
        for hour in 0..<24 {
            let minutes = hour * 60
            html += "<option value=\"\(minutes)\"\(selected == minutes ? " selected" : "")>\(hour):00</option>"
        }
        return html + "</select>"
    }

    @Sendable func saveSettings(_ request: Request, context: KairanRequestContext) async throws -> Response {
        let form = try await Form.read(request, context: context)
        let token = context.parameters.get("token") ?? ""
        let updated: SubscriberRecord?
        do {
            updated = try await subscriptions.savePreferences(
                token: token, charset: form["charset"], categories: form.all("category"), areas: form.all("area"),
                windowStart: form["start"].flatMap(Int.init), windowEnd: form["end"].flatMap(Int.init), logger: context.logger)
        } catch is ValidationError {
            return HTMLPage(title: "配信設定", body: "<p>文字コードが正しくありません。</p>").response(status: .unprocessableContent)
        }
        guard let updated else { return HTMLPage.notFound }
        return try await settingsResponse(updated, notice: "設定を保存しました。", context: context)
    }
}

extension MailPagesController {
    /// Opening the link in the confirmation mail completes the registration (double
    /// opt-in: the address has proved it reads its mail) or the address change.
    @Sendable func confirm(_ request: Request, context: KairanRequestContext) async throws -> Response {
        let outcome = try await subscriptions.confirm(token: context.parameters.get("token") ?? "", logger: context.logger)
        switch outcome {
        case .subscribed(let record):
            return try await settingsResponse(record, notice: "登録が完了しました。受け取る情報を選んで保存してください。", context: context)
        case .changed(let record):
            return try await settingsResponse(record, notice: "メールアドレスを変更しました。", context: context)
        case .used(let record?) where record.status == "active":
            return try await settingsResponse(record, notice: "この手続きは完了しています。", context: context)
        case .used:
            return HTMLPage(title: "手続き済み", body: "<p>このリンクは使用済みです。</p>").response()
        case .taken:
            return HTMLPage(title: "変更できません", body: "<p>このメールアドレスはすでに登録されています。</p>").response(status: .conflict)
        case .invalid:
            return HTMLPage.notFound
        }
    }

    /// Gives the subscriber an address to send an empty mail to from their new address.
    @Sendable func startAddressChange(_ request: Request, context: KairanRequestContext) async throws -> Response {
        guard let address = try await subscriptions.startAddressChange(token: context.parameters.get("token") ?? "", logger: context.logger) else {
            return HTMLPage.notFound
        }
        return HTMLPage(title: "メールアドレスの変更", body: """
            <p>新しいメールアドレスから、次のアドレスへ空メールを送ってください（24時間有効）。</p>
            <p><a href="mailto:\(HTMLPage.escape(address))">\(HTMLPage.escape(address))</a></p>
            <p>届いた確認メールのURLを開くと変更が完了します。</p>
            """).response()
    }
}

/// A minimal page in the town's voice, readable on a feature phone.
struct HTMLPage {
    let title: String
    let body: String

    static let notFound = HTMLPage(title: "ページが見つかりません", body: "<p>このリンクは無効か、期限が切れています。</p>").response(status: .notFound)

    func response(status: HTTPResponse.Status = .ok) -> Response {
        let html = """
            <!DOCTYPE html>
            <html lang="ja"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
            <meta name="referrer" content="no-referrer"><title>\(Self.escape(title))</title></head>
            <body><h1>\(Self.escape(title))</h1>
            \(body)
            </body></html>
            """
        var headers: HTTPFields = [:]
        headers[.contentType] = "text/html; charset=utf-8"
        // The URL carries the subscriber's secret: keep it out of caches and other sites.
        headers[.cacheControl] = "no-store"
        headers[.init("Content-Security-Policy")!] = "default-src 'none'; form-action 'self'; frame-ancestors 'none'"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    static func escape(_ text: String) -> String {
        var result = ""
        result.reserveCapacity(text.count)
        for character in text {
            switch character {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&#39;"
            default: result.append(character)
            }
        }
        return result
    }
}

/// An `application/x-www-form-urlencoded` body (or a multipart one's simple fields, as
/// some mail clients send for RFC 8058).
public struct Form: Sendable {
    private var fields: [(String, String)] = []

    public subscript(name: String) -> String? { fields.first { $0.0 == name }?.1 }
    public func all(_ name: String) -> [String] { fields.filter { $0.0 == name }.map(\.1) }

    /// Reads at most `limit` bytes (413 beyond).
    public static func read(_ request: Request, context: KairanRequestContext, limit: Int = 16 * 1024) async throws -> Form {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, code: "payload_too_large", message: "form body exceeds \(limit) bytes")
        }
        let text = String(buffer: buffer)
        var form = Form()
        if let type = request.headers[.contentType], type.lowercased().hasPrefix("multipart/form-data") {
            // name="X"\r\n\r\nvalue\r\n-- ; enough for the one-click field.
            for part in text.components(separatedBy: "Content-Disposition: form-data; name=\"").dropFirst() {
                guard let nameEnd = part.firstIndex(of: "\""), let valueStart = part.range(of: "\r\n\r\n") else { continue }
                // "\r\n" is one Character: test for newlines, not for "\r" or "\n".
                let value = part[valueStart.upperBound...].prefix { !$0.isNewline }
                form.fields.append((String(part[..<nameEnd]), String(value)))
            }
            return form
        }
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String {
                String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            form.fields.append((decode(parts[0]), parts.count > 1 ? decode(parts[1]) : ""))
        }
        return form
    }
}
