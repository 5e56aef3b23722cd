import Foundation
import Hummingbird
import KairanCore
import KairanStore
import Logging
import PostgresNIO

/// What staff watch after sending: confirmation counts by household and class, the call list, the answers.
extension NoticesController {
    // MARK: - Dashboard, call list, answers

    struct HouseholdResponse: Encodable, Sendable {
        struct Guardian: Encodable, Sendable {
            let id: GuardianID
            let name: String
            let phone: String?
        }
        let householdId: Int64
        let children: [String]
        let guardians: [Guardian]
    }

    struct StatusResponse: ResponseEncodable, Sendable {
        let noticeId: NoticeID
        let state: NoticeState
        let counts: NoticeStatusCounts
        /// Households not yet confirmed (names only; phones are on the call list).
        let unconfirmed: [HouseholdResponse]
        let escalatedAt: Date?
    }

    static let householdLimit = 2000

    /// Delivered / opened / confirmed, and who has not confirmed. Live updates arrive on
    /// the `notice:<id>` stream.
    @Sendable func status(_ request: Request, context: KairanRequestContext) async throws -> StatusResponse {
        let (organization, _, _) = try await authorizeOrganization(.sendNotices, context, database: database)
        return try await database.withConnection { connection in
            let notice = try await notice(organization, context, on: connection)
            let counts = try await NoticeRecipientStore.counts(notice: notice.id, messageID: notice.messageID, on: connection, logger: context.logger)
            let open = try await NoticeRecipientStore.unconfirmed(notice: notice.id, limit: Self.householdLimit, on: connection, logger: context.logger)
            return StatusResponse(noticeId: notice.id, state: notice.state, counts: counts, unconfirmed: open.map { household in
                HouseholdResponse(householdId: household.householdID, children: household.children,
                                  guardians: household.guardians.map { .init(id: $0.guardianID, name: $0.name, phone: nil) })
            }, escalatedAt: notice.escalatedAt)
        }
    }

    /// The households still unconfirmed, with every guardian's phone number recorded by
    /// the organization.
    @Sendable func callList(_ request: Request, context: KairanRequestContext) async throws -> Items<HouseholdResponse> {
        let (organization, _, _) = try await authorizeOrganization(.sendNotices, context, database: database)
        let open = try await database.withConnection { connection in
            let notice = try await notice(organization, context, on: connection)
            return try await NoticeRecipientStore.unconfirmed(notice: notice.id, limit: Self.householdLimit, on: connection, logger: context.logger)
        }
        context.logger.info("call list read", metadata: ["households": "\(open.count)"])
        return Items(items: open.map { household in
            HouseholdResponse(householdId: household.householdID, children: household.children,
                              guardians: household.guardians.map { .init(id: $0.guardianID, name: $0.name, phone: $0.phone) })
        })
    }

    struct AnswersResponse: ResponseEncodable, Sendable {
        struct Tally: Encodable, Sendable {
            let option: String
            let count: Int
        }
        struct Answer: Encodable, Sendable {
            let childId: ChildID
            let childName: String
            let className: String?
            let choices: [Int]
            let text: String?
            let answeredBy: String?
            let answeredAt: Date?
        }
        let form: ReplyForm
        let tallies: [Tally]
        let answered: Int
        let unanswered: Int
        let answers: [Answer]
    }

    @Sendable func answers(_ request: Request, context: KairanRequestContext) async throws -> AnswersResponse {
        let (organization, _, _) = try await authorizeOrganization(.sendNotices, context, database: database)
        let (notice, answers) = try await database.withConnection { connection -> (NoticeRecord, [NoticeAnswerRecord]) in
            let found = try await self.notice(organization, context, on: connection)
            return (found, try await NoticeRecipientStore.answers(notice: found.id, on: connection, logger: context.logger))
        }
        guard let form = notice.form else { throw APIError(.notFound, code: "no_form", message: "this notice has no reply form") }
        var counts = Array(repeating: 0, count: form.options.count)
        for answer in answers {
            for choice in answer.choices where counts.indices.contains(choice) { counts[choice] += 1 }
        }
        let answered = answers.filter { $0.answeredAt != nil }.count
        let tallies = zip(form.options, counts).map { AnswersResponse.Tally(option: $0, count: $1) }
        let rows = answers.map { answer in
            AnswersResponse.Answer(childId: answer.childID, childName: answer.childName, className: answer.className, choices: answer.choices,
                                   text: answer.text, answeredBy: answer.answeredBy, answeredAt: answer.answeredAt)
        }
        return AnswersResponse(form: form, tallies: tallies, answered: answered, unanswered: answers.count - answered, answers: rows)
    }
}
