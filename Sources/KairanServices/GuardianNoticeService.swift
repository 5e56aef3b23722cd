import Foundation
import KairanCore
import KairanStore
import Logging
import PostgresNIO

/// A notice as one guardian sees it: their own open/confirm state and, in the detail view,
/// the answers for the children of their household it concerns.
public struct GuardianNoticeView: Codable, Sendable {
    public struct ChildAnswer: Codable, Sendable {
        public let childId: ChildID
        public let childName: String
        public let choices: [Int]
        public let text: String?
        public let answeredAt: Date?
    }
    public let id: NoticeID
    public let organizationId: OrganizationID
    public let organizationName: String
    public let urgent: Bool
    public let title: String
    public let body: String
    public let form: ReplyForm?
    public let sentAt: Date?
    public let openedAt: Date?
    public let confirmedAt: Date?
    /// Another guardian of the household may have confirmed already.
    public let householdConfirmed: Bool
    /// Detail view: the household's children this notice is for, with their answers.
    public let children: [ChildAnswer]?
    /// Detail view: the notice's photos and PDFs.
    public var attachments: [AttachmentRecord]?

    init(_ notice: NoticeRecord, organizationName: String, recipient: NoticeRecipientRecord, answers: [NoticeAnswerRecord]? = nil) {
        id = notice.id; organizationId = notice.organizationID; self.organizationName = organizationName; urgent = notice.urgent
        title = notice.title; body = notice.body; form = notice.form; sentAt = notice.sentAt
        openedAt = recipient.openedAt; confirmedAt = recipient.confirmedAt; householdConfirmed = recipient.householdConfirmed
        children = answers?.map { .init(childId: $0.childID, childName: $0.childName, choices: $0.choices, text: $0.text, answeredAt: $0.answeredAt) }
    }
}

/// What a guardian does with a notice, in the app or on the page a notice mail links to:
/// open it, confirm it, answer its form. Both paths share these rules; they differ only in
/// how the guardian is known (their login, or the mail link's token).
public struct GuardianNoticeService: Sendable {
    let services: Services
    var database: Database { services.database }

    /// Who is reading: a logged-in guardian with the notice's id, or a mail link's token.
    public enum Reader: Sendable {
        case account(Actor, NoticeID)
        case mailToken(String)
    }

    /// The guardian's notices from every organization their children are in, newest first.
    public func list(_ actor: Actor, before: Int64?, limit: Int, logger: Logger) async throws -> Page<GuardianNoticeView> {
        let rows = try await database.withConnection { db in
            try await NoticeRecipientStore.notices(ofAccount: actor.accountID, before: before, limit: limit, on: db)
        }
        return Page(rows, limit: limit, cursor: { $0.0.id }).map { GuardianNoticeView($0.0, organizationName: $0.1, recipient: $0.2) }
    }

    /// Opens the notice (counted as opened the first time, not as confirmed) and shows it.
    public func open(_ reader: Reader, logger: Logger) async throws -> GuardianNoticeView {
        let now = services.clock.now()
        return try await database.withTransaction { db in
            let recipient = try await recipient(reader, on: db)
            try await markOpened(recipient, now: now, on: db)
            return try await detail(recipient, on: db)
        }
    }

    /// The notice as the reader sees it now, without counting it opened.
    public func view(_ reader: Reader, logger: Logger) async throws -> GuardianNoticeView {
        try await database.withConnection { db in
            try await detail(try await recipient(reader, on: db), on: db)
        }
    }

    /// Confirms for this guardian (the household counts as confirmed) and tells the dashboard.
    public func confirm(_ reader: Reader, logger: Logger) async throws -> GuardianNoticeView {
        let now = services.clock.now()
        return try await database.withTransaction { db in
            let recipient = try await recipient(reader, on: db)
            if recipient.confirmedAt == nil {
                try await progress(recipient, kind: "notice.confirmed", now: now, on: db) {
                    try await NoticeRecipientStore.confirm(notice: recipient.noticeID, guardian: recipient.guardianID, now: now, on: db)
                }
            }
            return try await detail(recipient, on: db)
        }
    }

    /// One child's answer: choices by index, or text.
    public struct Answer: Sendable {
        public var choices: [Int]
        public var text: String?
        public init(choices: [Int], text: String?) { self.choices = choices; self.text = text }
    }

    /// Saves answers, one per child of the household the notice is for; any guardian of the
    /// household may change them until the deadline. Answering is also reading it.
    public func answer(_ reader: Reader, _ answers: [ChildID: Answer], logger: Logger) async throws -> GuardianNoticeView {
        guard answers.values.allSatisfy({ $0.choices.count <= 10 }) else {
            throw ValidationError(field: "choices", code: "too_many", message: "at most 10 choices")
        }
        let now = services.clock.now()
        return try await database.withTransaction { db in
            let recipient = try await recipient(reader, on: db)
            guard let notice = try await NoticeStore.find(recipient.noticeID, organization: recipient.organizationID, on: db),
                  let form = notice.form else {
                throw ServiceError.missing(code: "no_form", message: "this notice has no reply form")
            }
            let children = Set(try await NoticeRecipientStore.children(notice: notice.id, household: recipient.householdID, on: db)
                .map(\.0))
            for (child, answer) in answers.sorted(by: { $0.key < $1.key }) {
                guard children.contains(child) else { throw ServiceError.notFound }
                let (choices, text) = try Self.validate(choices: answer.choices, text: answer.text, form: form, now: now)
                try await NoticeRecipientStore.saveAnswer(notice: notice.id, child: child, guardian: recipient.guardianID, choices: choices, text: text,
                                                          now: now, on: db)
            }
            try await markOpened(recipient, now: now, on: db)
            return try await detail(recipient, on: db)
        }
    }

    // MARK: - Rules

    /// The reader's recipient row: `notFound` when the notice never reached them.
    private func recipient(_ reader: Reader, on db: DatabaseConnection) async throws -> NoticeRecipientRecord {
        let found: NoticeRecipientRecord?
        switch reader {
        case .account(let actor, let notice):
            found = try await NoticeRecipientStore.recipient(notice: notice, account: actor.accountID, on: db)
        case .mailToken(let token):
            found = token.utf8.count <= 64 ? try await NoticeRecipientStore.recipient(token: token, on: db) : nil
        }
        guard let found else { throw ServiceError.notFound }
        return found
    }

    private func detail(_ recipient: NoticeRecipientRecord, on db: DatabaseConnection) async throws -> GuardianNoticeView {
        guard let notice = try await NoticeStore.find(recipient.noticeID, organization: recipient.organizationID, on: db),
              let organization = try await OrganizationStore.find(recipient.organizationID, on: db),
              let fresh = try await NoticeRecipientStore.recipient(notice: recipient.noticeID, guardian: recipient.guardianID, on: db)
        else { throw ServiceError.notFound }
        let answers = try await NoticeRecipientStore.answers(notice: notice.id, household: recipient.householdID, on: db)
        var view = GuardianNoticeView(notice, organizationName: organization.name, recipient: fresh, answers: answers)
        view.attachments = try await AttachmentStore.forNotice(notice.id, on: db)
        return view
    }

    /// Marks the notice opened (first time only) and tells the dashboard.
    private func markOpened(_ recipient: NoticeRecipientRecord, now: Date, on db: DatabaseConnection) async throws {
        guard recipient.openedAt == nil else { return }
        try await progress(recipient, kind: "notice.opened", now: now, on: db) {
            try await NoticeRecipientStore.markOpened(notice: recipient.noticeID, guardian: recipient.guardianID, now: now, on: db)
        }
    }

    /// Runs `update` under the notice's lock and, when it changed something, sends the
    /// dashboard fresh counts: counted one confirmation after another, they only grow.
    private func progress(
        _ recipient: NoticeRecipientRecord, kind: String, now: Date, on db: DatabaseConnection,
        update: () async throws -> Bool
    ) async throws {
        try await NoticeStore.lockForCounting(recipient.noticeID, on: db)
        guard try await update() else { return }
        let counts = try await NoticeRecipientStore.counts(notice: recipient.noticeID, messageID: nil, on: db)
        try await EventStore.append(
            EventStore.noticeStream(recipient.noticeID), kind: kind,
            payload: NoticeProgressEvent(noticeId: recipient.noticeID, householdId: recipient.householdID, guardianId: recipient.guardianID,
                                         households: counts.households, confirmedHouseholds: counts.confirmedHouseholds, openedGuardians: counts.opened),
            now: now, on: db)
    }

    /// Checks an answer against the form: one choice, several distinct choices, or text.
    static func validate(choices: [Int], text: String?, form: ReplyForm, now: Date) throws -> ([Int], String?) {
        if let deadline = form.deadline, now >= deadline {
            throw ServiceError.conflict("reply_closed", "the reply deadline has passed")
        }
        switch form.kind {
        case .single, .multiple:
            guard choices.allSatisfy({ form.options.indices.contains($0) }), Set(choices).count == choices.count,
                  form.kind == .single ? choices.count == 1 : !choices.isEmpty else {
                throw ValidationError(field: "choices", code: "invalid_choice",
                                      message: form.kind == .single ? "choose exactly one option" : "choose one or more options")
            }
            return (choices.sorted(), nil)
        case .text:
            guard choices.isEmpty else { throw ValidationError(field: "choices", code: "invalid_choice", message: "this form asks for text") }
            return ([], try Content.text(text ?? "", field: "text", max: 500, multiline: true))
        }
    }
}
