import Foundation
import Hummingbird
import KairanAPI
import KairanCore
import KairanServices
import KairanStore

/// Photos and PDFs on the web pages: the forms' script uploads each chosen file here
/// (`POST /attachments`, the file as the body, the page's form token in a header) and puts
/// the id it gets back into the form; `/files/<id>` shows a file to whoever may see what it
/// hangs on, as the API does.
struct FilePages {
    let web: WebFrontEnd
    var services: Services { web.services }

    func addRoutes(to routes: RouterGroup<KairanRequestContext>) {
        routes.post("/attachments", use: upload)
        routes.delete("/attachments/:id", use: withdraw)
        routes.get("/files/:id", use: file)
    }

    /// Answers in JSON (with the Japanese message the script shows), like the API.
    @Sendable func upload(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<AttachmentRecord> {
        try await web.verifyScriptRequest(request, context: context)
        return try await UploadBody.upload(request, actor: try context.requireActor(), services: services, logger: context.logger)
    }

    /// The picker's 取り消す: the upload goes at once (a parent who chose the wrong photo of
    /// their child wants it gone, not kept for a day). JSON, like the upload.
    @Sendable func withdraw(_ request: Request, context: KairanRequestContext) async throws -> HTTPResponse.Status {
        try await web.verifyScriptRequest(request, context: context)
        guard let id = context.parameters.get("id", as: AttachmentID.self) else { throw ServiceError.notFound }
        try await services.attachments.withdraw(try context.requireActor(), id, logger: context.logger)
        return .noContent
    }

    @Sendable func file(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            guard let id = context.parameters.get("id", as: AttachmentID.self) else { throw ServiceError.notFound }
            return Response.attachment(try await services.attachments.download(actor, id, logger: context.logger))
        }
    }

    /// The uploads a form names (its picker's `attachment` fields); more than any form may
    /// carry is cut off here, the service refuses more than the post or notice may hold.
    static func chosen(in form: Form) -> [AttachmentID] {
        Array(form.all("attachment").compactMap(AttachmentID.init).prefix(20))
    }

    /// A file as the pages list it.
    struct Item {
        let url: String
        let name: String
        let isImage: Bool
        let width: Int?
        let height: Int?
        /// 「写真」 or 「PDF」, and "340 KB".
        let label: String
        let size: String
    }

    /// `under`: the path the files are served from (an alert's public page has its own).
    static func items(_ files: [AttachmentRecord], under base: String = "/files") -> [Item] {
        files.map { file in
            Item(url: "\(base)/\(file.id)", name: file.filename, isImage: file.kind?.isImage ?? false, width: file.width, height: file.height,
                 label: file.kind?.label ?? "ファイル", size: AttachmentKind.sizeText(file.byteSize))
        }
    }
}
