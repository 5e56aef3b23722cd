import Foundation
import KairanCore
import KairanStore

/// An alert with its delivery progress, as town staff follow it.
public struct AlertView: Codable, Sendable {
    public let id: Int64
    public let category: String
    public let areas: [String]
    public let urgent: Bool
    public let subject: String
    public let body: String
    public let sendAt: Date
    public let createdAt: Date
    public let cancelled: Bool
    public let deadline: Date?
    /// Urgent, and not every recipient's mail was accepted by the deadline.
    public let deadlineMissed: Bool
    public let recipients: Int
    public let progress: DeliveryCounts
    /// Its photos and PDFs; the mail (and so `body`) links to each.
    public let attachments: [AttachmentRecord]
    /// Its public page (`/a/<token>`, what a push opens): nil for alerts from before pages.
    public let page: String?
    /// App users' devices it is pushed to (Web Push), and how many the push services took.
    public let pushDevices: Int
    public let pushSent: Int
    /// Files staff took off it after it went out; their links say they were withdrawn.
    public let withdrawnFiles: [WithdrawnFile]

    init(_ record: AlertRecord, progress: DeliveryCounts) {
        id = record.id
        category = record.categoryCode
        areas = record.areaCodes
        urgent = record.urgent
        subject = record.subject
        body = record.body
        sendAt = record.sendAt
        createdAt = record.createdAt
        cancelled = record.cancelledAt != nil
        deadline = record.deadlineAt
        deadlineMissed = record.deadlineMissed
        recipients = record.recipientCount
        self.progress = progress
        attachments = record.attachments
        page = record.publicToken.map { "/a/\($0)" }
        pushDevices = record.pushDevices
        pushSent = record.pushSent
        withdrawnFiles = record.withdrawnFiles
    }
}

public struct AlertCategoryView: Codable, Sendable {
    public let code: String
    public let name: String
    public let mandatory: Bool
    public let position: Int
    public let archived: Bool
    init(_ record: AlertCategoryRecord) {
        code = record.code; name = record.name; mandatory = record.mandatory; position = record.position; archived = record.archived
    }
}

public struct AlertAreaView: Codable, Sendable {
    public let code: String
    public let name: String
    public let position: Int
    public let archived: Bool
    init(_ record: AlertAreaRecord) {
        code = record.code; name = record.name; position = record.position; archived = record.archived
    }
}

/// A mail subscriber as alert staff see them.
public struct SubscriberView: Codable, Sendable {
    public let id: Int64
    public let email: String
    public let status: String
    public let charset: String
    /// Nil when mail may come at any hour.
    public let receiveWindow: TimeWindow?
    public let categories: [String]
    public let areas: [String]
    public let createdAt: Date
    public init(_ record: SubscriberRecord) {
        id = record.id; email = record.email; status = record.status; charset = record.charset
        receiveWindow = TimeWindow(start: record.windowStart, end: record.windowEnd)
        categories = record.categoryCodes; areas = record.areaCodes; createdAt = record.createdAt
    }
}

/// An alert as staff write it.
public struct AlertDraft: Sendable {
    public var category: String
    public var areas: [String]
    public var urgent: Bool
    public var subject: String
    public var body: String
    /// nil: now.
    public var sendAt: Date?
    /// The client's key for this request: the same key again answers with the first alert.
    public var idempotencyKey: String?
    /// The sender's uploads (`POST /v1/attachments`): the mail links to each.
    public var attachmentIds: [AttachmentID]

    public init(category: String, areas: [String], urgent: Bool, subject: String, body: String, sendAt: Date?, idempotencyKey: String?,
                attachmentIds: [AttachmentID] = []) {
        self.category = category; self.areas = areas; self.urgent = urgent; self.subject = subject; self.body = body
        self.sendAt = sendAt; self.idempotencyKey = idempotencyKey; self.attachmentIds = attachmentIds
    }
}

/// What an alert's push shows on a closed phone: the subject, the start of the text (alerts
/// are public information, unlike a school's notice), and its public page to open.
struct AlertPush: Codable, Sendable {
    let kind: String
    let title: String
    let body: String
    let url: String
    /// One notification per alert on the phone.
    let tag: String
    let urgent: Bool

    /// The body's first characters a lock screen shows, and at most this many UTF-8 bytes
    /// (a push's payload is at most 3,000 bytes, and a character can be dozens: emoji
    /// families, stacked combining marks).
    static let bodyCharacters = 120
    static let bodyBytes = 600
    static let titleBytes = 600

    init(id: Int64, subject: String, text: String, token: String, urgent: Bool) {
        kind = "alert"
        title = Self.prefix(subject, characters: 200, bytes: Self.titleBytes)
        let flat = text.split(whereSeparator: \.isNewline).joined(separator: " ")
        body = Self.prefix(flat, characters: Self.bodyCharacters, bytes: Self.bodyBytes)
        url = "/a/\(token)"
        tag = "alert-\(id)"
        self.urgent = urgent
    }

    /// The text whole when it fits, else its first whole characters that fit with "…".
    static func prefix(_ text: String, characters: Int, bytes: Int) -> String {
        guard text.count > characters || text.utf8.count > bytes else { return text }
        var cut = ""
        var used = 3  // "…"
        for character in text.prefix(characters - 1) {
            used += character.utf8.count
            if used > bytes { break }
            cut.append(character)
        }
        return cut + "…"
    }

    var json: String {
        // Encoding this struct cannot fail.
        String(decoding: (try? JSONEncoder().encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }
}
