import Foundation
import Hummingbird
import KairanCore
import KairanServices
import KairanStore
import Logging
import PostgresNIO

/// 欠席・遅刻連絡: a guardian reports an absence, lateness or early leave for their child;
/// it appears live to that class's teachers (`class:<id>`), who acknowledge it.
struct AbsencesController {
    let dependencies: APIDependencies
    var database: Database { dependencies.database }

    func addRoutes(to routes: some RouterMethods<KairanRequestContext>) {
        routes.post("/v1/me/children/{childID}/absences", use: report)
        routes.get("/v1/me/absences", use: mine)
        routes.get("/v1/organizations/{organizationID}/absences", use: inbox)
        routes.post("/v1/organizations/{organizationID}/absences/{absenceID}/acknowledge", use: acknowledge)
    }

    struct ReportInput: Decodable {
        let kind: AbsenceKind
        /// "YYYY-MM-DD"
        let day: String
        let reason: String
        let note: String?
    }

    @Sendable func report(_ request: Request, context: KairanRequestContext) async throws -> EditedResponse<AbsenceRecord> {
        let actor = try context.requireActor()
        let childID = try context.parameters.require("childID", as: ChildID.self)
        let input = try await request.decode(as: ReportInput.self, context: context)
        let now = dependencies.clock.now()
        let day = try Self.day(input.day, field: "day", around: now)
        let note = try input.note.map { try Content.text($0, field: "note", min: 0, max: 500, multiline: true) } ?? ""
        let record = try await database.withTransaction { connection -> AbsenceRecord in
            guard let guardian = try await OrganizationStore.guardian(account: actor.accountID, on: connection, logger: context.logger),
                  let child = try await OrganizationStore.children(ofGuardian: actor.accountID, on: connection, logger: context.logger)
                      .first(where: { $0.id == childID }),
                  let organization = try await OrganizationStore.find(child.organizationID, on: connection, logger: context.logger) else {
                throw APIError.notFound
            }
            guard organization.absenceReasons.contains(input.reason) else {
                throw APIError.validation(ValidationError(field: "reason", code: "unknown_reason",
                                                          message: "reason must be one of: " + organization.absenceReasons.joined(separator: ", ")))
            }
            let record = try await AbsenceStore.insert(child: child, guardian: guardian.id, kind: input.kind, day: day, reason: input.reason,
                                                       note: note, now: now, on: connection, logger: context.logger)
            // The class's teachers see it live; a child without a class reaches the org admins.
            let stream = child.classID.map(EventStore.classStream) ?? EventStore.organizationStream(child.organizationID)
            try await EventStore.append(stream, kind: "absence.reported", payload: record, now: now, on: connection, logger: context.logger)
            return record
        }
        context.logger.info("absence reported", metadata: ["absence_id": "\(record.id)"])
        return EditedResponse(status: .created, response: record)
    }

    /// A school day near today: not more than 30 days back nor 90 ahead.
    static func day(_ text: String, field: String, around now: Date) throws -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "Asia/Tokyo")
        formatter.dateFormat = "yyyy-MM-dd"
        guard text.utf8.count == 10, let date = formatter.date(from: text), formatter.string(from: date) == text else {
            throw APIError.validation(ValidationError(field: field, code: "invalid_date", message: "\(field) must be a date such as 2026-04-08"))
        }
        let days = date.timeIntervalSince(now) / 86400
        guard days >= -31, days <= 90 else {
            throw APIError.validation(ValidationError(field: field, code: "out_of_range", message: "\(field) must be within 30 days back and 90 days ahead"))
        }
        return text
    }

    @Sendable func mine(_ request: Request, context: KairanRequestContext) async throws -> Items<AbsenceRecord> {
        let actor = try context.requireActor()
        let records = try await database.withConnection { connection -> [AbsenceRecord] in
            guard let guardian = try await OrganizationStore.guardian(account: actor.accountID, on: connection, logger: context.logger) else { return [] }
            return try await AbsenceStore.list(household: guardian.householdID, limit: 100, on: connection, logger: context.logger)
        }
        return Items(items: records)
    }

    /// A teacher's inbox: reports for the classes they teach; org admins see every class.
    @Sendable func inbox(_ request: Request, context: KairanRequestContext) async throws -> Page<AbsenceRecord> {
        let (organization, standing, actor) = try await authorizeOrganization(.sendNotices, context, database: database)
        let now = dependencies.clock.now()
        let day = try request.uri.queryParameters["day"].map { try Self.day(String($0), field: "day", around: now) }
        let classFilter = try request.cursor("classId")
        let before = try request.cursor("before")
        let limit = try request.pageLimit()
        let records = try await database.withConnection { connection -> [AbsenceRecord] in
            var classes: [ClassID]? = nil
            if standing.role != .orgAdmin {
                classes = try await OrganizationStore.classesTaught(by: actor.accountID, organization: organization.id, on: connection, logger: context.logger)
            }
            if let classFilter { classes = (classes ?? [classFilter]).filter { $0 == classFilter } }
            return try await AbsenceStore.list(organization: organization.id, classes: classes, day: day, before: before, limit: limit,
                                               on: connection, logger: context.logger)
        }
        return Page(items: records, nextBefore: records.count == limit ? records.last?.id : nil)
    }

    @Sendable func acknowledge(_ request: Request, context: KairanRequestContext) async throws -> AbsenceRecord {
        let (organization, standing, actor) = try await authorizeOrganization(.sendNotices, context, database: database)
        let id = try context.parameters.require("absenceID", as: AbsenceReportID.self)
        let now = dependencies.clock.now()
        return try await database.withTransaction { connection -> AbsenceRecord in
            try await confirmOrganization(.sendNotices, organization.id, actor: try context.requireActor(), on: connection, logger: context.logger)
            guard let record = try await AbsenceStore.find(id, organization: organization.id, on: connection, logger: context.logger) else {
                throw APIError.notFound
            }
            if standing.role != .orgAdmin {
                let taught = try await OrganizationStore.classesTaught(by: actor.accountID, organization: organization.id, on: connection, logger: context.logger)
                guard let classID = record.classId, taught.contains(classID) else {
                    throw APIError.forbidden("only the class's teachers or an administrator may acknowledge this report")
                }
            }
            guard try await AbsenceStore.acknowledge(id, by: actor.accountID, now: now, on: connection, logger: context.logger),
                  let updated = try await AbsenceStore.find(id, organization: organization.id, on: connection, logger: context.logger) else {
                return record
            }
            let stream = updated.classId.map(EventStore.classStream) ?? EventStore.organizationStream(organization.id)
            try await EventStore.append(stream, kind: "absence.acknowledged", payload: updated, now: now, on: connection, logger: context.logger)
            if let account = try await AbsenceStore.reporterAccount(id, on: connection, logger: context.logger) {
                try await EventStore.append(EventStore.userStream(account), kind: "absence.acknowledged", payload: updated, now: now,
                                            on: connection, logger: context.logger)
            }
            return updated
        }
    }
}
