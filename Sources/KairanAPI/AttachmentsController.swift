import Foundation
import Hummingbird
import KairanCore
import KairanServices
import KairanStore
import Logging
import NIOCore

/// Photos and PDFs: uploaded first (`POST /v1/attachments`, the file as the body), then
/// named by id when a post, notice or alert is created; downloaded by those who may see what
/// they hang on, and an alert's by anyone holding its mail's link.
struct AttachmentsController {
    let dependencies: APIDependencies
    var attachments: AttachmentService { dependencies.services.attachments }

    func addRoutes(to routes: some RouterMethods<KairanRequestContext>) {
        routes.post("/v1/attachments", use: upload)
        routes.get("/v1/attachments/{attachmentID}", use: download)
        routes.delete("/v1/attachments/{attachmentID}", use: withdraw)
        routes.get("/a/{token}/files/{attachmentID}", use: alertFile)
    }

    @Sendable func upload(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<AttachmentRecord> {
        try await UploadBody.upload(request, actor: try context.requireActor(), services: dependencies.services, logger: context.logger)
    }

    @Sendable func download(_ request: Request, context: KairanRequestContext) async throws -> Response {
        let actor = try context.requireActor()
        let id = try context.parameters.require("attachmentID", as: AttachmentID.self)
        return Response.attachment(try await attachments.download(actor, id, logger: context.logger))
    }

    /// Takes back an upload not attached yet → 204.
    @Sendable func withdraw(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        let actor = try context.requireActor()
        try await attachments.withdraw(actor, try context.parameters.require("attachmentID", as: AttachmentID.self), logger: context.logger)
        return .noContent
    }

    /// One of an alert's files, for whoever holds its mail's link (residents without an
    /// account): a page for a phone's browser, so "not found" is a page too.
    @Sendable func alertFile(_ request: Request, context: KairanRequestContext) async throws -> Response {
        guard let id = context.parameters.get("attachmentID", as: AttachmentID.self) else { return HTMLPage.notFound }
        do {
            return Response.attachment(try await attachments.download(alertToken: context.parameters.get("token") ?? "", id, logger: context.logger))
        } catch ServiceError.notFound {
            return HTMLPage.notFound
        } catch let withdrawn as FileWithdrawn {
            // Gone on purpose, and said so: a resident tapping the link in their mail learns
            // the file was taken back, not that the link is broken.
            let when = TownTime.display(withdrawn.file.withdrawnAt, zone: dependencies.services.timeZone)
            return HTMLPage(title: "取り下げられたファイル", body: """
                <p>「\(HTMLPage.escape(withdrawn.file.filename))」は、\(when) に配信元が取り下げました。</p>
                <p><a href="\(withdrawn.alertPage)">お知らせの本文を見る</a></p>
                """).response(status: .gone)
        }
    }
}

extension AttachmentRecord: ResponseEncodable {}

/// An upload's body: the file itself, at most `limit` bytes (413 before reading more).
public enum UploadBody {
    static func collect(_ request: Request, limit: Int) async throws -> ByteBuffer {
        try await request.collectBody(upTo: limit, tooLarge: APIError(.contentTooLarge, code: "file_too_large",
                                                                      message: "the file is larger than \(limit >> 20) MB"))
    }

    /// The upload routes' work, the API's and the web pages' alike: the body (already read by
    /// `UploadBodyMiddleware`) and `?filename=` to the service, 201 with the record.
    public static func upload(_ request: Request, actor: Actor, services: Services, logger: Logger) async throws -> EditedResponse<AttachmentRecord> {
        let body = try await collect(request, limit: services.attachmentLimits.largestFile)
        let filename = request.uri.queryParameters["filename"].map(String.init) ?? ""
        return EditedResponse(status: .created, response: try await services.attachments.upload(actor, bytes: body, filename: filename, logger: logger))
    }
}

extension Response {
    /// A stored attachment, shown in place (a photo in the page, a PDF in the browser's
    /// viewer) under its uploader's name. `nosniff`: the browser takes the type we checked,
    /// never guesses another from the bytes; an image gets a sandbox of its own too.
    public static func attachment(_ download: AttachmentService.Download) -> Response {
        var headers: HTTPFields = [:]
        let record = download.attachment
        headers[.contentType] = record.contentType
        headers[.contentLength] = String(download.file.byteCount)
        headers[.contentDisposition] = contentDisposition(inline: true, filename: record.filename)
        headers[.init("X-Content-Type-Options")!] = "nosniff"
        // Who may see it can change (moderation): a browser keeps it a short while, for its
        // own user only.
        headers[.cacheControl] = "private, max-age=300"
        if record.kind?.isImage ?? false {
            headers[.init("Content-Security-Policy")!] = "default-src 'none'; sandbox"
        }
        return Response(status: .ok, headers: headers, body: ResponseBody(asyncSequence: download.file.chunks))
    }

    /// RFC 6266: an ASCII fallback name for old clients and the real one as RFC 8187 UTF-8.
    static func contentDisposition(inline: Bool, filename: String) -> String {
        let fallback = String(filename.unicodeScalars.map { scalar -> Character in
            scalar.value >= 0x20 && scalar.value < 0x7F && scalar != "\"" && scalar != "\\" && scalar != "%" && scalar != ";"
                ? Character(scalar) : "_"
        })
        let encoded = PercentEncoding.unreserved(filename)
        return "\(inline ? "inline" : "attachment"); filename=\"\(fallback)\"; filename*=UTF-8''\(encoded)"
    }
}
