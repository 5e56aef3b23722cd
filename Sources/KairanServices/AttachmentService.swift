import Foundation
import KairanCore
import KairanFiles
import KairanStore
import Logging
import NIOCore
import NIOPosix

/// How much a person may attach. Staff (of a school or nursery, or of the town) send
/// 学年だより as PDF, often scanned and large; residents share photos.
public struct AttachmentLimits: Sendable, Equatable {
    public var imageBytes = 10 << 20
    public var residentPDFBytes = 5 << 20
    public var staffPDFBytes = 20 << 20
    public var perPost = 4
    public var perNotice = 10
    /// An alert's mail carries one link per file: a few, for a phone's small screen.
    public var perAlert = 3
    /// Uploads not yet attached to anything, per account: a form left open, not a store.
    public var waitingPerAccount = 20
    /// Bytes uploaded per account in 24 hours.
    public var residentBytesPerDay: Int64 = 200 << 20
    public var staffBytesPerDay: Int64 = 1 << 30
    /// An upload not attached within this long is forgotten.
    public var waitingLifetime: TimeInterval = 24 * 3600

    public init() {}

    /// The largest request body an upload route accepts (the largest file anyone may send).
    public var largestFile: Int { max(imageBytes, residentPDFBytes, staffPDFBytes) }
}

/// An alert's file its sender took off after the alert went out.
public struct FileWithdrawn: Error, Sendable {
    public let file: WithdrawnFile
    /// The alert's public page, which still holds its text.
    public let alertPage: String
}

/// Uploading photos and PDFs, attaching them to posts and notices, and handing them to those
/// who may see what they hang on.
public struct AttachmentService: Sendable {
    let services: Services
    var database: Database { services.database }
    var files: any FileStore { services.files }
    var limits: AttachmentLimits { services.attachmentLimits }

    /// Checks the file's real type, strips its metadata, stores it and keeps it waiting for
    /// the post or notice it is for (`attachmentIds` on their create requests).
    public func upload(_ actor: Actor, bytes: ByteBuffer, filename rawName: String, logger: Logger) async throws -> AttachmentRecord {
        let now = services.clock.now()
        let staff = try await database.withConnection { db in
            try await isStaff(actor, on: db)
        }
        // Limits the caller can act on before any work: the size as sent.
        let largest = staff ? max(limits.imageBytes, limits.staffPDFBytes) : max(limits.imageBytes, limits.residentPDFBytes)
        guard bytes.readableBytes <= largest else { throw tooLarge(largest) }
        let filenameBase = try Self.filename(rawName)
        func checkAllowance(bytes: Int, on db: DatabaseConnection) async throws {
            let used = try await AttachmentStore.allowanceUsed(uploader: actor.accountID, since: now.addingTimeInterval(-24 * 3600), on: db)
            if used.waiting >= limits.waitingPerAccount {
                throw ServiceError.conflict("too_many_waiting_uploads",
                                            "\(limits.waitingPerAccount) uploads already wait to be attached; attach them or let them expire")
            }
            if used.bytes + Int64(bytes) > (staff ? limits.staffBytesPerDay : limits.residentBytesPerDay) {
                throw ServiceError.rateLimited(action: "upload", retryAfter: 3600)
            }
        }
        // Parsing a 20 MB scan takes a few milliseconds: off the event loop.
        let raw = Array(bytes.readableBytesView)
        let result: InspectedFile
        var convertedFrom: String?
        do {
            result = try await NIOThreadPool.singleton.runIfActive { try FileInspector.inspect(raw) }
        } catch FileRefusal.heic where services.heicConverter != nil {
            // Converting costs up to 30 s of a core: an account past its allowance gets none.
            try await database.withConnection { db in try await checkAllowance(bytes: raw.count, on: db) }
            result = try await convertHEIC(raw, for: actor.accountID, with: services.heicConverter!, logger: logger)
            convertedFrom = "heic"
        } catch let refusal as FileRefusal {
            throw Self.describe(refusal)
        }
        let inspected = result
        let limit = inspected.kind == .pdf ? (staff ? limits.staffPDFBytes : limits.residentPDFBytes) : limits.imageBytes
        guard inspected.bytes.count <= limit else { throw tooLarge(limit) }
        let name = Self.named(filenameBase, as: inspected.kind)
        let key = FileKey(of: inspected.bytes)

        // The allowance, then the file's row (committed: the collector knows of it), then the
        // bytes, then the attachment, the allowance checked again under the uploader's lock
        // (parallel uploads each saw the same count the first time).
        try await database.withTransaction { db in
            try await checkAllowance(bytes: inspected.bytes.count, on: db)
            try await AttachmentStore.touchFile(sha256: key.hex, byteSize: inspected.bytes.count, contentType: inspected.kind.rawValue, now: now, on: db)
        }
        try await files.put(key, bytes: ByteBuffer(bytes: inspected.bytes), contentType: inspected.kind.rawValue)
        let record = try await database.withTransaction { db in
            try await AttachmentStore.lockUploads(of: actor.accountID, on: db)
            try await checkAllowance(bytes: inspected.bytes.count, on: db)
            return try await AttachmentStore.insert(uploader: actor.accountID, sha256: key.hex, kind: inspected.kind, byteSize: inspected.bytes.count,
                                                    filename: name, width: inspected.width, height: inspected.height, now: now, on: db)
        }
        // Never the name: it can be a child's.
        logger.info("attachment uploaded", metadata: [
            "attachment_id": "\(record.id)", "type": "\(inspected.kind.rawValue)", "bytes": "\(inspected.bytes.count)",
            "stripped_bytes": "\(bytes.readableBytes - inspected.bytes.count)", "converted_from": "\(convertedFrom ?? "-")",
        ])
        return record
    }

    /// An iPhone photo in HEIC becomes a JPEG residents' phones and feature phones' browsers
    /// can show. Its claimed size is checked before decoding; the JPEG is then inspected like
    /// any upload, its EXIF (GPS) stripped and its orientation tag too (the converter already
    /// turned the pixels upright).
    func convertHEIC(_ heic: [UInt8], for account: AccountID, with converter: HEICConverter, logger: Logger) async throws -> InspectedFile {
        guard let size = FileInspector.heifImageSize(heic) else {
            throw ServiceError.invalid(code: "damaged_file", message: "the HEIC file is damaged or incomplete: it has no image size", field: nil)
        }
        do {
            try FileInspector.checkPixels(width: size.width, height: size.height)
        } catch {
            throw Self.describe(error)
        }
        let jpeg: [UInt8]
        do {
            jpeg = try await converter.convert(heic, for: account)
        } catch HEICConverter.Failure.cancelled {
            throw CancellationError()
        } catch HEICConverter.Failure.busy {
            // One photo of an account's at a time, and a few waiting in all: the rest try again.
            throw ServiceError.rateLimited(action: "convert", retryAfter: 10)
        } catch HEICConverter.Failure.unreadable(let detail) {
            logger.info("HEIC conversion refused the file", metadata: ["detail": "\(detail)"])
            throw ServiceError.invalid(code: "damaged_file", message: "the HEIC file is damaged or incomplete: it could not be converted to JPEG", field: nil)
        } catch HEICConverter.Failure.timedOut {
            logger.warning("HEIC conversion ran out of time", metadata: ["bytes": "\(heic.count)", "timeout": "\(converter.timeout)"])
            throw ServiceError.invalid(code: "damaged_file", message: "the HEIC file could not be converted to JPEG in time", field: nil)
        }
        do {
            return try await NIOThreadPool.singleton.runIfActive { try FileInspector.inspect(jpeg, orientationApplied: true) }
        } catch let refusal as FileRefusal {
            // The converter wrote something that is not a clean JPEG: its fault, not the file's.
            logger.error("HEIC conversion wrote an unreadable JPEG", metadata: ["refusal": "\(refusal)"])
            throw Self.describe(refusal)
        }
    }

    /// Takes back an upload not attached yet (the wrong photo chosen): it is gone at once, and
    /// its bytes a day later unless something else uses them. Someone else's upload, or one
    /// unknown, is "not found"; one attached already belongs to its post or notice (409).
    public func withdraw(_ actor: Actor, _ id: AttachmentID, logger: Logger) async throws {
        try await database.withTransaction { db in
            if try await AttachmentStore.removeWaiting(id, uploader: actor.accountID, on: db) { return }
            guard let placement = try await AttachmentStore.find(id, on: db), placement.uploaderID == actor.accountID else {
                throw ServiceError.notFound
            }
            throw ServiceError.conflict("attachment_in_use", "this file is attached already; delete or edit what it is attached to")
        }
        logger.info("attachment withdrawn", metadata: ["attachment_id": "\(id)"])
    }

    func isStaff(_ actor: Actor, on db: DatabaseConnection) async throws -> Bool {
        if actor.isTownModerator || actor.isAlertSender { return true }
        return try await AttachmentStore.isOrganizationStaff(actor.accountID, on: db)
    }

    func tooLarge(_ limit: Int) -> ServiceError {
        .fileRefused(code: "file_too_large", message: "the file is larger than \(limit >> 20) MB", unsupportedType: false)
    }

    /// Attaches the caller's uploads to what they just wrote, in the transaction that wrote
    /// it: all of them (returned in the caller's order) or the whole change is refused.
    static func attach(_ ids: [AttachmentID], to owner: AttachmentStore.Owner, actor: Actor, limit: Int, now: Date,
                       on db: DatabaseConnection) async throws -> [AttachmentRecord] {
        guard !ids.isEmpty else { return [] }
        try checkList(ids, limit: limit)
        let attached = try await AttachmentStore.attach(ids, to: owner, uploader: actor.accountID, now: now, on: db)
        guard attached.count == ids.count else {
            throw ServiceError.invalid(code: "unknown_attachment",
                                       message: "every attachment must be your own upload, not yet attached (uploads wait a day)", field: "attachmentIds")
        }
        return attached
    }

    /// The files a post, notice or alert names, as asked: at most `limit`, none twice. Also
    /// checked before any work a refusal would undo (an alert's town-wide enqueue).
    static func checkList(_ ids: [AttachmentID], limit: Int) throws {
        guard ids.count <= limit else {
            throw ServiceError.invalid(code: "too_many_attachments", message: "at most \(limit) attachments", field: "attachmentIds")
        }
        guard Set(ids).count == ids.count else {
            throw ServiceError.invalid(code: "unknown_attachment", message: "an attachment is listed twice", field: "attachmentIds")
        }
    }

    // MARK: - Downloads

    /// A file to send: what it is and its bytes.
    public struct Download: Sendable {
        public let attachment: AttachmentRecord
        public let file: StoredFile
    }

    /// The file, for someone who may see what it hangs on: a post they can read (held,
    /// hidden and removed posts only for their author and moderators, as the post itself;
    /// deleted posts for nobody), a notice they received or whose organization they work
    /// for, an alert for alert staff, or their own upload not yet attached. Anyone else gets
    /// "not found" (residents open an alert's files by the link in its mail).
    public func download(_ actor: Actor, _ id: AttachmentID, logger: Logger) async throws -> Download {
        let now = services.clock.now()
        let placement = try await database.withConnection { db -> AttachmentPlacement in
            guard let placement = try await AttachmentStore.find(id, on: db) else { throw ServiceError.notFound }
            if let postID = placement.postID {
                let (post, _) = try await GroupAccess.post(.read, postID, actor: actor, now: now, on: db)
                guard post.deletedAt == nil else { throw ServiceError.notFound }
            } else if let noticeID = placement.noticeID, let organizationID = placement.organizationID {
                if try await NoticeRecipientStore.recipient(notice: noticeID, account: actor.accountID, on: db) == nil {
                    do {
                        _ = try await OrganizationAccess.confirm(.sendNotices, organizationID, actor: actor, lock: false, on: db)
                    } catch ServiceError.forbidden {
                        throw ServiceError.notFound
                    }
                }
            } else if placement.alertID != nil {
                guard Policy.decide(actor, .sendAlerts) == .allow else { throw ServiceError.notFound }
            } else {
                guard placement.uploaderID == actor.accountID else { throw ServiceError.notFound }
            }
            return placement
        }
        return try await open(placement, logger: logger)
    }

    /// An alert's file for whoever holds the alert mail's link; nobody's before the alert's
    /// send time (a scheduled alert's files are not out before its mail). One staff took off
    /// since is `FileWithdrawn`, so the page can say so instead of "not found".
    public func download(alertToken token: String, _ id: AttachmentID, logger: Logger) async throws -> Download {
        let now = services.clock.now()
        let placement = try await database.withConnection { db -> AttachmentPlacement in
            guard token.utf8.count <= 64, let alert = try await AttachmentStore.alert(publicToken: token, on: db), alert.sendAt <= now
            else { throw ServiceError.notFound }
            guard let placement = try await AttachmentStore.find(id, on: db), placement.alertID == alert.id else {
                if let withdrawn = try await AlertStore.withdrawnFile(alert: alert.id, attachment: id, on: db) {
                    throw FileWithdrawn(file: withdrawn, alertPage: "/a/\(token)")
                }
                throw ServiceError.notFound
            }
            return placement
        }
        return try await open(placement, logger: logger)
    }

    /// A notice's file for the guardian holding the notice mail's link.
    public func download(mailToken token: String, _ id: AttachmentID, logger: Logger) async throws -> Download {
        let placement = try await database.withConnection { db -> AttachmentPlacement in
            guard token.utf8.count <= 64, let recipient = try await NoticeRecipientStore.recipient(token: token, on: db),
                  let placement = try await AttachmentStore.find(id, on: db), placement.noticeID == recipient.noticeID
            else { throw ServiceError.notFound }
            return placement
        }
        return try await open(placement, logger: logger)
    }

    private func open(_ placement: AttachmentPlacement, logger: Logger) async throws -> Download {
        guard let key = FileKey(hex: placement.sha256), let file = try await files.open(key) else {
            // The row says the bytes are stored: a store that lost them is an operator's
            // problem, said in the log; the reader sees "not found".
            logger.error("attachment's stored file is missing", metadata: ["attachment_id": "\(placement.attachment.id)"])
            throw ServiceError.notFound
        }
        return Download(attachment: placement.attachment, file: file)
    }

    // MARK: - Collecting

    /// Removes up to 100 stored files (among `keys`, or any) that no attachment uses and
    /// nobody uploaded since `before` (`withdrawnBefore` for bytes withdrawn on purpose);
    /// returns how many went.
    func removeUnused(touchedBefore before: Date, withdrawnBefore: Date? = nil, among keys: [String]? = nil) async throws -> Int {
        try await database.withTransaction { db -> Int in
            let keys = try await AttachmentStore.claimUnused(touchedBefore: before, withdrawnBefore: withdrawnBefore, among: keys, limit: 100, on: db)
            for hex in keys {
                if let key = FileKey(hex: hex) { try await files.delete(key) }
            }
            try await AttachmentStore.forget(files: keys, on: db)
            return keys.count
        }
    }

    /// How long after their last upload withdrawn bytes wait: an upload of the same bytes may
    /// be on its way (its body has 120 s to arrive, then it is inspected and stored).
    static let withdrawnGrace: TimeInterval = 600

    /// A file someone took back on purpose (withdrawn from an alert): its bytes go now, unless
    /// something else shows the same bytes or an upload of them may be on its way (one in the
    /// last 10 minutes), in which case the collector's next pass after that takes them
    /// (`purge_soon`).
    public func removeNowIfUnused(_ key: String, logger: Logger) async {
        do {
            let removed = try await removeUnused(touchedBefore: services.clock.now().addingTimeInterval(-Self.withdrawnGrace), among: [key])
            logger.info("withdrawn file's bytes", metadata: ["removed": "\(removed == 1)"])
        } catch {
            // The collector's pass removes them later.
            logger.warning("withdrawn file's bytes not removed yet", metadata: ["error": "\(String(reflecting: type(of: error)))"])
        }
    }

    /// Forgets uploads never attached within their lifetime, then removes stored bytes that
    /// no attachment uses any more (a day after their last upload; ten minutes for bytes
    /// withdrawn on purpose). Returns what went.
    public func collect(logger: Logger) async throws -> (uploads: Int, files: Int) {
        let now = services.clock.now()
        let uploads = try await database.withTransaction { db in
            try await AttachmentStore.removeWaiting(createdBefore: now.addingTimeInterval(-limits.waitingLifetime), on: db)
        }
        var removed = 0
        while true {
            let batch = try await removeUnused(touchedBefore: now.addingTimeInterval(-24 * 3600),
                                               withdrawnBefore: now.addingTimeInterval(-Self.withdrawnGrace))
            removed += batch
            if batch < 100 { break }
        }
        let abandoned = try await files.removeAbandonedWrites(olderThan: now.addingTimeInterval(-24 * 3600))
        if abandoned > 0 { logger.warning("removed unfinished file writes", metadata: ["count": "\(abandoned)"]) }
        if uploads > 0 || removed > 0 {
            logger.info("attachments collected", metadata: ["abandoned_uploads": "\(uploads)", "files_removed": "\(removed)"])
        }
        return (uploads, removed)
    }

    // MARK: - Names and refusals

    /// The uploader's name for the file: its last path component, trimmed, 1 to 150
    /// characters, no control characters. Empty: "file".
    static func filename(_ raw: String) throws -> String {
        var name = raw.precomposedStringWithCanonicalMapping
        if let slash = name.lastIndex(where: { $0 == "/" || $0 == "\\" }) { name = String(name[name.index(after: slash)...]) }
        name = name.trimmingCharacters(in: .whitespacesAndNewlines)
        if name.isEmpty { name = "file" }
        guard !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control || $0.properties.generalCategory == .format && $0.value != 0x200D }) else {
            throw ValidationError(field: "filename", code: "invalid_characters", message: "filename must not contain control characters")
        }
        guard name.unicodeScalars.count <= 150 else {
            throw ValidationError(field: "filename", code: "too_long", message: "filename must be at most 150 characters")
        }
        return name
    }

    /// The name with the extension of what the file really is: a photo an iPhone converted
    /// keeps its name but says .jpg.
    static func named(_ name: String, as kind: AttachmentKind) -> String {
        let known: Set<String> = ["jpg", "jpeg", "jpe", "png", "webp", "pdf", "heic", "heif", "gif", "tif", "tiff", "bmp"]
        var base = name
        if let dot = name.lastIndex(of: "."), dot != name.startIndex, known.contains(name[name.index(after: dot)...].lowercased()) {
            base = String(name[..<dot])
        }
        return base + "." + kind.fileExtension
    }

    static func describe(_ refusal: FileRefusal) -> ServiceError {
        switch refusal {
        case .empty:
            return .invalid(code: "empty_file", message: "the file is empty", field: nil)
        case .heic:
            return .fileRefused(code: "heic_not_supported",
                                message: "HEIC photos are not accepted: choose the photo in a browser (it sends JPEG) or set the iPhone camera to Most Compatible",
                                unsupportedType: true)
        case .unsupported(let detected):
            return .fileRefused(code: "unsupported_file_type",
                                message: "only photos (JPEG, PNG, WebP) and PDF can be attached" + (detected.map { "; this file is \($0)" } ?? ""),
                                unsupportedType: true)
        case .tooManyPixels(let width, let height):
            return .fileRefused(code: "image_too_large",
                                message: "the image is \(width)×\(height) pixels; at most \(FileInspector.maxPixels / 1_000_000) million pixels",
                                unsupportedType: false)
        case .damaged(let kind, let why):
            return .invalid(code: "damaged_file", message: "the \(kind.fileExtension.uppercased()) file is damaged or incomplete: \(why)", field: nil)
        }
    }
}
