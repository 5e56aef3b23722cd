import Foundation
import KairanCore
import KairanStore
import Logging
import PostgresNIO

/// 欠席・遅刻連絡: a guardian reports an absence, lateness or early leave for their child;
/// it appears live to that class's teachers (`class:<id>`), who acknowledge it.
public struct AbsenceService: Sendable {
    let services: Services
    var database: Database { services.database }

    public struct Report: Sendable {
        public var kind: AbsenceKind
        /// "YYYY-MM-DD"
        public var day: String
        /// One of the organization's reasons.
        public var reason: String
        public var note: String?
        public init(kind: AbsenceKind, day: String, reason: String, note: String?) {
            self.kind = kind; self.day = day; self.reason = reason; self.note = note
        }
    }

    /// A guardian reports for one of their children.
    public func report(_ actor: Actor, child childID: ChildID, _ report: Report, logger: Logger) async throws -> AbsenceRecord {
        let now = services.clock.now()
        let (day, note) = try validated(report, now: now)
        let record = try await database.withTransaction { db -> AbsenceRecord in
            guard let guardian = try await OrganizationStore.guardian(account: actor.accountID, on: db),
                  let child = try await OrganizationStore.children(ofGuardian: actor.accountID, on: db)
                      .first(where: { $0.id == childID }) else {
                throw ServiceError.notFound
            }
            return try await file(report, day: day, note: note, child: child, guardian: guardian.id, now: now, on: db)
        }
        logger.info("absence reported", metadata: ["absence_id": "\(record.id)"])
        return record
    }

    /// What the page a notice mail links to offers for an absence report: the household's
    /// children at that organization, its reasons, and today's date in the town.
    public struct MailForm: Sendable {
        public let children: [ChildRecord]
        public let reasons: [String]
        public let today: String
    }

    public func mailForm(token: String, logger: Logger) async throws -> MailForm {
        let now = services.clock.now()
        return try await database.withConnection { db in
            let (recipient, organization) = try await mailRecipient(token, on: db)
            let children = try await OrganizationStore.children(household: recipient.householdID, organization: recipient.organizationID,
                                                                on: db)
            return MailForm(children: children, reasons: organization.absenceReasons, today: Self.dayFormatter(services.timeZone).string(from: now))
        }
    }

    /// A guardian who reads notices by mail (no account needed) reports from the page the
    /// mail links to: the link's token names the guardian and household, and only that
    /// household's children at that organization can be reported for.
    public func reportByMail(token: String, child childID: ChildID, _ report: Report, logger: Logger) async throws -> AbsenceRecord {
        let now = services.clock.now()
        let (day, note) = try validated(report, now: now)
        let record = try await database.withTransaction { db -> AbsenceRecord in
            let (recipient, _) = try await mailRecipient(token, on: db)
            guard let child = try await OrganizationStore.children(household: recipient.householdID, organization: recipient.organizationID,
                                                                   on: db).first(where: { $0.id == childID }) else {
                throw ServiceError.notFound
            }
            return try await file(report, day: day, note: note, child: child, guardian: recipient.guardianID, now: now, on: db)
        }
        logger.info("absence reported by mail link", metadata: ["absence_id": "\(record.id)"])
        return record
    }

    private func mailRecipient(
        _ token: String, on db: DatabaseConnection
    ) async throws -> (NoticeRecipientRecord, OrganizationRecord) {
        guard token.utf8.count <= 64, let recipient = try await NoticeRecipientStore.recipient(token: token, on: db),
              let organization = try await OrganizationStore.find(recipient.organizationID, on: db) else {
            throw ServiceError.notFound
        }
        return (recipient, organization)
    }

    private func validated(_ report: Report, now: Date) throws -> (day: String, note: String) {
        let day = try day(report.day, field: "day", around: now)
        let note = try report.note.map { try Content.text($0, field: "note", min: 0, max: 500, multiline: true) } ?? ""
        return (day, note)
    }

    /// Stores the report and shows it live: the class's teachers see it; a child without a
    /// class reaches the organization's admins.
    private func file(
        _ report: Report, day: String, note: String, child: ChildRecord, guardian: GuardianID, now: Date,
        on db: DatabaseConnection
    ) async throws -> AbsenceRecord {
        guard let organization = try await OrganizationStore.find(child.organizationID, on: db) else {
            throw ServiceError.notFound
        }
        guard organization.absenceReasons.contains(report.reason) else {
            throw ValidationError(field: "reason", code: "unknown_reason",
                                  message: "reason must be one of: " + organization.absenceReasons.joined(separator: ", "))
        }
        let record = try await AbsenceStore.insert(child: child, guardian: guardian, kind: report.kind, day: day, reason: report.reason,
                                                   note: note, now: now, on: db)
        let stream = child.classID.map(EventStore.classStream) ?? EventStore.organizationStream(child.organizationID)
        try await EventStore.append(stream, kind: "absence.reported", payload: record, now: now, on: db)
        return record
    }

    static func dayFormatter(_ zone: TimeZone) -> DateFormatter {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = zone
        formatter.dateFormat = "yyyy-MM-dd"
        return formatter
    }

    /// A school day near today in the town's time zone: not more than 30 days back nor 90 ahead.
    public func day(_ text: String, field: String, around now: Date) throws -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = services.timeZone
        formatter.dateFormat = "yyyy-MM-dd"
        guard text.utf8.count == 10, let date = formatter.date(from: text), formatter.string(from: date) == text else {
            throw ValidationError(field: field, code: "invalid_date", message: "\(field) must be a date such as 2026-04-08")
        }
        let days = date.timeIntervalSince(now) / 86400
        guard days >= -31, days <= 90 else {
            throw ValidationError(field: field, code: "out_of_range", message: "\(field) must be within 30 days back and 90 days ahead")
        }
        return text
    }

    /// What the caller's household has reported, newest first.
    /// What a logged-in guardian's absence form offers: each of their children with its
    /// organization's reasons, and today's date in the town.
    public struct AccountForm: Sendable {
        public let children: [(child: ChildView, reasons: [String])]
        public let today: String
    }

    public func accountForm(_ actor: Actor, logger: Logger) async throws -> AccountForm {
        let now = services.clock.now()
        let children = try await database.withConnection { db -> [(child: ChildView, reasons: [String])] in
            var reasons: [OrganizationID: [String]] = [:]
            var result: [(child: ChildView, reasons: [String])] = []
            for child in try await OrganizationStore.children(ofGuardian: actor.accountID, on: db) {
                if reasons[child.organizationID] == nil {
                    reasons[child.organizationID] = try await OrganizationStore.find(child.organizationID, on: db)?.absenceReasons ?? []
                }
                result.append((ChildView(child), reasons[child.organizationID] ?? []))
            }
            return result
        }
        return AccountForm(children: children, today: Self.dayFormatter(services.timeZone).string(from: now))
    }

    public func mine(_ actor: Actor, logger: Logger) async throws -> [AbsenceRecord] {
        try await database.withConnection { db -> [AbsenceRecord] in
            guard let guardian = try await OrganizationStore.guardian(account: actor.accountID, on: db) else { return [] }
            return try await AbsenceStore.list(household: guardian.householdID, limit: 100, on: db)
        }
    }

    /// A teacher's inbox: reports for the classes they teach; org admins see every class.
    public func inbox(_ actor: Actor, in organizationID: OrganizationID, day rawDay: String?, class classFilter: ClassID?, before: Int64?, limit: Int,
                      logger: Logger) async throws -> Page<AbsenceRecord> {
        let now = services.clock.now()
        let records = try await database.withConnection { db -> [AbsenceRecord] in
            let scope = try await OrganizationAccess.confirm(.sendNotices, organizationID, actor: actor, lock: false, on: db)
            // Validated after the policy: a stranger learns nothing from the error.
            let day = try rawDay.map { try self.day($0, field: "day", around: now) }
            var classes: [ClassID]? = nil
            if scope.standing.role != .orgAdmin {
                classes = try await OrganizationStore.classesTaught(by: actor.accountID, organization: organizationID, on: db)
            }
            if let classFilter { classes = (classes ?? [classFilter]).filter { $0 == classFilter } }
            return try await AbsenceStore.list(organization: organizationID, classes: classes, day: day, before: before, limit: limit,
                                               on: db)
        }
        return Page(records, limit: limit, cursor: \.id)
    }

    /// The class's teacher (or an org admin) has seen the report; the guardian is told live.
    public func acknowledge(_ actor: Actor, _ id: AbsenceReportID, in organizationID: OrganizationID, logger: Logger) async throws -> AbsenceRecord {
        let now = services.clock.now()
        return try await database.withTransaction { db -> AbsenceRecord in
            let scope = try await OrganizationAccess.confirm(.sendNotices, organizationID, actor: actor, on: db)
            guard let record = try await AbsenceStore.find(id, organization: organizationID, on: db) else {
                throw ServiceError.notFound
            }
            if scope.standing.role != .orgAdmin {
                let taught = try await OrganizationStore.classesTaught(by: actor.accountID, organization: organizationID, on: db)
                guard let classID = record.classId, taught.contains(classID) else {
                    throw ServiceError.forbidden("only the class's teachers or an administrator may acknowledge this report")
                }
            }
            guard try await AbsenceStore.acknowledge(id, by: actor.accountID, now: now, on: db),
                  let updated = try await AbsenceStore.find(id, organization: organizationID, on: db) else {
                return record
            }
            let stream = updated.classId.map(EventStore.classStream) ?? EventStore.organizationStream(organizationID)
            try await EventStore.append(stream, kind: "absence.acknowledged", payload: updated, now: now, on: db)
            if let account = try await AbsenceStore.reporterAccount(id, on: db) {
                try await EventStore.append(EventStore.userStream(account), kind: "absence.acknowledged", payload: updated, now: now,
                                            on: db)
            }
            return updated
        }
    }
}
