import Foundation
import KairanCore
import KairanStore
import Logging
import PostgresNIO

/// Staff post notices to channels (the whole organization, grades, classes, custom lists),
/// org admins approve them when the organization asks for it, and staff follow who has
/// confirmed, call the households that have not, and read the answers.
public struct NoticeService: Sendable {
    let services: Services
    var database: Database { services.database }

    /// How far ahead a notice may be scheduled.
    public static let maxScheduleAhead: TimeInterval = 366 * 24 * 3600
    /// The most unconfirmed households a status or call list shows.
    public static let householdLimit = 2000

    /// Queue events for the org admins (`org:<id>`) and the author (`user:<id>`).
    struct ApprovalEvent: Encodable {
        let noticeId: NoticeID
        let title: String
        let authorId: AccountID
        let state: NoticeState
        let comment: String?
    }

    // MARK: - Writing

    /// Writes a notice: scheduled, waiting for approval, or (when its time has come)
    /// published in the same transaction.
    public func create(_ actor: Actor, in organizationID: OrganizationID, _ draft: NoticeDraft, logger: Logger) async throws -> NoticeView {
        try await createOnce(actor, in: organizationID, draft, logger: logger).notice
    }

    /// `create`, telling whether this call made the notice (false: the idempotency key's
    /// first request did).
    public func createOnce(_ actor: Actor, in organizationID: OrganizationID, _ draft: NoticeDraft, logger: Logger) async throws -> (notice: NoticeView, isNew: Bool) {
        let title = try Content.text(draft.title, field: "title", max: 100)
        let body = try Content.text(draft.body, field: "body", max: 5000, multiline: true)
        let targets = try Self.validate(draft.targets)
        let now = services.clock.now()
        let form = try draft.form.map { try Self.validate($0, now: now) }
        let sendAt = max(draft.sendAt ?? now, now)
        guard sendAt.timeIntervalSince(now) <= Self.maxScheduleAhead else {
            throw ValidationError(field: "sendAt", code: "out_of_range", message: "sendAt must be within a year")
        }
        let skipReason = try draft.skipApprovalReason.map { try Content.text($0, field: "skipApprovalReason", max: 500) }
        if skipReason != nil && !draft.urgent {
            throw ValidationError(field: "skipApprovalReason", code: "not_urgent", message: "only an urgent notice may skip approval")
        }
        if let key = draft.idempotencyKey, key.isEmpty || key.count > 100 {
            throw ValidationError(field: "idempotencyKey", code: "invalid_key", message: "an idempotency key has 1 to 100 characters")
        }
        var emptyChannels: [NoticeStore.ChannelReach] = []
        var again: NoticeRecord?
        var attached: [AttachmentRecord] = []
        let record: NoticeRecord
        do {
            record = try await database.withTransaction { db -> NoticeRecord in
                let scope = try await OrganizationAccess.confirm(.sendNotices, organizationID, actor: actor, on: db)
                let organization = scope.organization
                if let key = draft.idempotencyKey,
                   let existing = try await NoticeStore.find(author: actor.accountID, idempotencyKey: key, organization: organization.id, on: db) {
                    again = existing
                    return existing
                }
                let releaseAt = release(sendAt, urgent: draft.urgent, organization: organization)
                if let deadline = form?.deadline, deadline <= releaseAt {
                    throw ValidationError(field: "form.deadline", code: "deadline_before_release",
                                          message: "the reply deadline must be after the notice goes out (\(releaseAt.formatted(.iso8601)))")
                }
                guard try await NoticeStore.targetsBelong(targets, to: organization.id, on: db) else {
                    throw ValidationError(field: "targets", code: "unknown_channel", message: "every class and list must be this organization's")
                }
                emptyChannels = try await Self.emptyChannels(of: targets, in: organization.id, on: db)
                let needsApproval = organization.requiresApproval && scope.standing.role != .orgAdmin
                var state: NoticeState = needsApproval ? .pendingApproval : .scheduled
                var logged: (ApprovalAction, String?)? = needsApproval ? (.submitted, nil) : nil
                if needsApproval, let skipReason {
                    guard try await NoticeStore.maySkipApproval(account: actor.accountID, organization: organization.id, on: db) else {
                        throw ServiceError.refused(code: "may_not_skip_approval", message: "the organization has not allowed you to send without approval")
                    }
                    state = .scheduled
                    logged = (.skipped, skipReason)
                }
                let notice = try await NoticeStore.insert(
                    organization: organization.id, author: actor.accountID, urgent: draft.urgent, title: title, body: body, targets: targets, form: form,
                    state: state, sendAt: sendAt, releaseAt: releaseAt, skipReason: logged?.0 == .skipped ? skipReason : nil,
                    idempotencyKey: draft.idempotencyKey, now: now, on: db)
                // Before publishing: the mail says the notice has files.
                attached = try await AttachmentService.attach(draft.attachmentIds, to: .notice(notice.id), actor: actor,
                                                              limit: services.attachmentLimits.perNotice, now: now, on: db)
                if let (action, comment) = logged {
                    try await NoticeStore.log(action, notice: notice.id, organization: organization.id, actor: actor.accountID, comment: comment,
                                              now: now, on: db)
                }
                if state == .pendingApproval {
                    try await EventStore.append(EventStore.organizationStream(organization.id), kind: "notice.submitted",
                                                payload: ApprovalEvent(noticeId: notice.id, title: title, authorId: actor.accountID, state: state, comment: nil),
                                                now: now, on: db)
                }
                return try await publishIfDue(notice, organization: organization, now: now, on: db)
            }
        } catch let error where Database.isUniqueViolation(error) && draft.idempotencyKey != nil {
            // The same submission, racing: the other one committed first and made the notice.
            guard let key = draft.idempotencyKey,
                  let existing = try await database.withConnection({ db in
                      try await NoticeStore.find(author: actor.accountID, idempotencyKey: key, organization: organizationID, on: db)
                  }) else { throw error }
            return (NoticeView(existing), false)
        }
        if let again {
            logger.info("notice submitted again; the first one stands", metadata: ["notice_id": "\(again.id)"])
            return (NoticeView(again), false)
        }
        logger.info("notice created", metadata: ["notice_id": "\(record.id)", "state": "\(record.state.rawValue)", "urgent": "\(draft.urgent)"])
        var view = NoticeView(record)
        view.emptyTargets = emptyChannels.isEmpty ? nil : emptyChannels.map { NoticeView.Channel(kind: $0.kind, id: $0.id) }
        view.attachments = attached
        return (view, true)
    }

    /// "class 12", "grade 3", "list 4", "the whole organization".
    /// The channels of `targets` that reach no guardian today. A notice that would reach
    /// nobody at all would show staff a sent notice and a 0/0 dashboard while no family was
    /// told: refused (when written, and again when approved, since a list may have been
    /// emptied meanwhile). Part of it empty: the caller warns.
    static func emptyChannels(of targets: NoticeTargets, in organization: OrganizationID, on db: DatabaseConnection) async throws -> [NoticeStore.ChannelReach] {
        let reach = try await NoticeStore.reach(targets, in: organization, on: db)
        let empty = reach.filter { $0.guardians == 0 }
        if !reach.isEmpty && empty.count == reach.count {
            throw ValidationError(field: "targets", code: "empty_targets",
                                  message: "no guardian is registered for " + empty.map(Self.describe).joined(separator: ", ")
                                      + "; the notice would reach nobody",
                                  japanese: empty.map(Self.describeInJapanese).joined(separator: "、")
                                      + "には登録済みの保護者がいないため、このお知らせはだれにも届きません。")
        }
        return empty
    }

    static func describe(_ channel: NoticeStore.ChannelReach) -> String {
        channel.kind == "all" ? "the whole organization" : "\(channel.kind) \(channel.id)"
    }

    static func describeInJapanese(_ channel: NoticeStore.ChannelReach) -> String {
        switch channel.kind {
        case "all": return "学校・園全体"
        case "grade": return "\(channel.id) 年"
        case "class": return "クラス（番号 \(channel.id)）"
        case "list": return "名簿（番号 \(channel.id)）"
        default: return "\(channel.kind) \(channel.id)"
        }
    }

    /// A normal notice waits out the organization's quiet hours; an urgent one does not.
    func release(_ sendAt: Date, urgent: Bool, organization: OrganizationRecord) -> Date {
        urgent ? sendAt : QuietHours.release(requested: sendAt, start: organization.quietStart, end: organization.quietEnd, timeZone: services.timeZone)
    }

    /// Publishes a scheduled notice in the caller's transaction when its time has come;
    /// later ones are left to the scheduler.
    ///
    /// The release time is compared with a millisecond's grace: PostgreSQL keeps
    /// microseconds, and a time stored from `now` can read back a fraction of a microsecond
    /// later. Without the grace an urgent notice now and then stayed `scheduled` until the
    /// scheduler's next pass (found by the SIGKILL test, where no scheduler ran).
    func publishIfDue(_ notice: NoticeRecord, organization: OrganizationRecord, now: Date, on db: DatabaseConnection) async throws -> NoticeRecord {
        guard notice.state == .scheduled, notice.releaseAt <= now.addingTimeInterval(0.001) else { return notice }
        let result = try await NoticeStore.publish(notice, organizationName: organization.name, escalateAfterMinutes: organization.escalateAfterMinutes,
                                                   urgentDeadline: services.alerts.urgentDeadline, now: now, on: db)
        db.logger.info("notice published", metadata: ["notice_id": "\(notice.id)", "guardians": "\(result.guardians)",
                                                    "mail_jobs": "\(result.mailJobs)", "live": "\(result.liveRecipients)"])
        return try await NoticeStore.find(notice.id, organization: organization.id, on: db) ?? notice
    }

    static func validate(_ targets: NoticeTargets) throws -> NoticeTargets {
        guard !targets.isEmpty else {
            throw ValidationError(field: "targets", code: "required", message: "choose the organization, grades, classes or lists")
        }
        guard targets.grades.count <= 13, targets.classes.count <= 200, targets.lists.count <= 50 else {
            throw ValidationError(field: "targets", code: "too_many", message: "too many channels in one notice")
        }
        guard targets.grades.allSatisfy({ (0...12).contains($0) }) else {
            throw ValidationError(field: "targets.grades", code: "out_of_range", message: "grades are between 0 and 12")
        }
        return targets
    }

    static func validate(_ form: ReplyForm, now: Date) throws -> ReplyForm {
        let question = try Content.text(form.question, field: "form.question", max: 200)
        var options: [String] = []
        switch form.kind {
        case .single, .multiple:
            guard (2...10).contains(form.options.count) else {
                throw ValidationError(field: "form.options", code: "out_of_range", message: "a choice needs 2 to 10 options")
            }
            options = try form.options.map { try Content.text($0, field: "form.options", max: 50) }
        case .text:
            guard form.options.isEmpty else {
                throw ValidationError(field: "form.options", code: "unexpected", message: "a text answer has no options")
            }
        }
        if let deadline = form.deadline, deadline <= now {
            throw ValidationError(field: "form.deadline", code: "in_the_past", message: "the reply deadline must be in the future")
        }
        return ReplyForm(kind: form.kind, question: question, options: options, deadline: form.deadline)
    }

    /// An author's or approver's changes to the text, each optional.
    static func validEdit(title: String?, body: String?) throws -> (String?, String?) {
        (try title.map { try Content.text($0, field: "title", max: 100) },
         try body.map { try Content.text($0, field: "body", max: 5000, multiline: true) })
    }

    // MARK: - Reading

    public func list(_ actor: Actor, in organizationID: OrganizationID, state: NoticeState?, before: Int64?, limit: Int, logger: Logger) async throws -> Page<NoticeView> {
        let notices = try await database.withConnection { db in
            _ = try await OrganizationAccess.confirm(.sendNotices, organizationID, actor: actor, lock: false, on: db)
            return try await NoticeStore.list(organization: organizationID, state: state, before: before, limit: limit, on: db)
        }
        return Page(notices, limit: limit, cursor: \.id).map { NoticeView($0) }
    }

    /// The notice, if it is this organization's.
    private func find(_ id: NoticeID, in organization: OrganizationID, lock: Bool = false, on db: DatabaseConnection) async throws -> NoticeRecord {
        guard let notice = try await NoticeStore.find(id, organization: organization, lock: lock, on: db) else {
            throw ServiceError.notFound
        }
        return notice
    }

    /// One notice with its approval trail.
    public func notice(_ actor: Actor, _ id: NoticeID, in organizationID: OrganizationID, logger: Logger) async throws -> NoticeView {
        try await database.withConnection { db in
            _ = try await OrganizationAccess.confirm(.sendNotices, organizationID, actor: actor, lock: false, on: db)
            let notice = try await find(id, in: organizationID, on: db)
            let log = try await NoticeStore.approvalLog(notice: notice.id, on: db)
            var view = NoticeView(notice, log: log)
            view.attachments = try await AttachmentStore.forNotice(notice.id, on: db)
            return view
        }
    }

    // MARK: - Editing and withdrawing

    /// The author (or an org admin) edits a notice that has not gone out. A returned notice
    /// goes back into the approval queue.
    public func edit(_ actor: Actor, _ id: NoticeID, in organizationID: OrganizationID, title rawTitle: String?, body rawBody: String?,
                     logger: Logger) async throws -> NoticeView {
        let (title, body) = try Self.validEdit(title: rawTitle, body: rawBody)
        let now = services.clock.now()
        let record = try await database.withTransaction { db -> NoticeRecord in
            let scope = try await OrganizationAccess.confirm(.sendNotices, organizationID, actor: actor, on: db)
            let notice = try await find(id, in: organizationID, lock: true, on: db)
            guard notice.authorID == actor.accountID || scope.standing.role == .orgAdmin else {
                throw ServiceError.forbidden("only the author or an administrator may edit this notice")
            }
            guard [.pendingApproval, .returned, .scheduled].contains(notice.state) else {
                throw ServiceError.conflict("already_sent", "a notice that has gone out or was cancelled cannot be edited")
            }
            // In an organization that requires approval, what staff change goes back to the
            // queue: an approved notice edited afterwards must not go out unreviewed.
            let resubmit = notice.state == .returned
                || (scope.organization.requiresApproval && scope.standing.role != .orgAdmin && notice.state == .scheduled)
            let changed = (title.map { $0 != notice.title } ?? false) || (body.map { $0 != notice.body } ?? false)
            guard changed || resubmit else { return notice }
            try await NoticeStore.update(notice.id, state: resubmit ? .pendingApproval : notice.state, title: title, body: body, now: now,
                                         on: db)
            if changed {
                try await NoticeStore.log(.edited, notice: notice.id, organization: organizationID, actor: actor.accountID, comment: nil,
                                          now: now, on: db)
            }
            if resubmit {
                try await NoticeStore.log(.resubmitted, notice: notice.id, organization: organizationID, actor: actor.accountID, comment: nil,
                                          now: now, on: db)
                try await EventStore.append(EventStore.organizationStream(organizationID), kind: "notice.submitted",
                                            payload: ApprovalEvent(noticeId: notice.id, title: title ?? notice.title, authorId: notice.authorID,
                                                                   state: .pendingApproval, comment: nil),
                                            now: now, on: db)
            }
            return try await NoticeStore.find(notice.id, organization: organizationID, on: db) ?? notice
        }
        return NoticeView(record)
    }

    /// Withdraws a notice that has not gone out.
    public func cancel(_ actor: Actor, _ id: NoticeID, in organizationID: OrganizationID, logger: Logger) async throws -> NoticeView {
        let now = services.clock.now()
        let record = try await database.withTransaction { db -> NoticeRecord in
            let scope = try await OrganizationAccess.confirm(.sendNotices, organizationID, actor: actor, on: db)
            let notice = try await find(id, in: organizationID, lock: true, on: db)
            guard notice.authorID == actor.accountID || scope.standing.role == .orgAdmin else {
                throw ServiceError.forbidden("only the author or an administrator may cancel this notice")
            }
            guard [.pendingApproval, .returned, .scheduled].contains(notice.state) else {
                throw ServiceError.conflict("already_sent", "a notice that has gone out cannot be withdrawn")
            }
            try await NoticeStore.update(notice.id, state: .cancelled, now: now, on: db)
            try await NoticeStore.log(.cancelled, notice: notice.id, organization: organizationID, actor: actor.accountID, comment: nil,
                                      now: now, on: db)
            return try await NoticeStore.find(notice.id, organization: organizationID, on: db) ?? notice
        }
        return NoticeView(record)
    }

    // MARK: - Approval (管理職承認)

    /// An org admin approves a notice (optionally editing it), as of the revision they read.
    public func approve(_ actor: Actor, _ id: NoticeID, in organizationID: OrganizationID, title rawTitle: String?, body rawBody: String?,
                        comment rawComment: String?, revision: Int?, logger: Logger) async throws -> NoticeView {
        let (title, body) = try Self.validEdit(title: rawTitle, body: rawBody)
        let comment = try rawComment.map { try Content.text($0, field: "comment", max: 1000, multiline: true) }
        let now = services.clock.now()
        let record = try await database.withTransaction { db -> NoticeRecord in
            let organization = try await OrganizationAccess.confirm(.approveNotices, organizationID, actor: actor, on: db).organization
            let notice = try await find(id, in: organizationID, lock: true, on: db)
            guard notice.state == .pendingApproval else {
                throw ServiceError.conflict("not_pending", "only a notice waiting for approval can be approved")
            }
            if let revision, revision != notice.revision {
                throw ServiceError.conflict("changed_since_read", "the notice was edited after you read it; read it again")
            }
            let edited = (title.map { $0 != notice.title } ?? false) || (body.map { $0 != notice.body } ?? false)
            if edited {
                try await NoticeStore.log(.edited, notice: notice.id, organization: organizationID, actor: actor.accountID, comment: nil,
                                          now: now, on: db)
            }
            try await NoticeStore.log(.approved, notice: notice.id, organization: organizationID, actor: actor.accountID, comment: comment,
                                      now: now, on: db)
            // Quiet hours are judged again at approval: approving at night a notice drafted
            // in the afternoon must not wake anyone.
            let releaseAt = release(max(notice.sendAt, now), urgent: notice.urgent, organization: organization)
            if let deadline = notice.form?.deadline, deadline <= releaseAt {
                throw ServiceError.conflict("deadline_before_release",
                                            "the reply deadline would pass before the notice goes out; return it so the author can change it")
            }
            _ = try await Self.emptyChannels(of: notice.targets, in: organizationID, on: db)
            try await NoticeStore.update(notice.id, state: .scheduled, releaseAt: releaseAt, title: title, body: body, now: now,
                                         on: db)
            let event = ApprovalEvent(noticeId: notice.id, title: title ?? notice.title, authorId: notice.authorID, state: .scheduled, comment: comment)
            try await EventStore.append(EventStore.organizationStream(organizationID), kind: "notice.approved", payload: event,
                                        now: now, on: db)
            try await EventStore.append(EventStore.userStream(notice.authorID), kind: "notice.approved", payload: event,
                                        now: now, on: db)
            guard let updated = try await NoticeStore.find(notice.id, organization: organizationID, on: db) else {
                throw ServiceError.notFound
            }
            return try await publishIfDue(updated, organization: organization, now: now, on: db)
        }
        return NoticeView(record)
    }

    /// Sent back to the author with a comment; it goes out only if edited and approved later.
    public func returnToAuthor(_ actor: Actor, _ id: NoticeID, in organizationID: OrganizationID, comment rawComment: String, logger: Logger) async throws -> NoticeView {
        let comment = try Content.text(rawComment, field: "comment", max: 1000, multiline: true)
        let now = services.clock.now()
        let record = try await database.withTransaction { db -> NoticeRecord in
            _ = try await OrganizationAccess.confirm(.approveNotices, organizationID, actor: actor, on: db)
            let notice = try await find(id, in: organizationID, lock: true, on: db)
            guard notice.state == .pendingApproval else {
                throw ServiceError.conflict("not_pending", "only a notice waiting for approval can be returned")
            }
            try await NoticeStore.update(notice.id, state: .returned, now: now, on: db)
            try await NoticeStore.log(.returned, notice: notice.id, organization: organizationID, actor: actor.accountID, comment: comment,
                                      now: now, on: db)
            let event = ApprovalEvent(noticeId: notice.id, title: notice.title, authorId: notice.authorID, state: .returned, comment: comment)
            try await EventStore.append(EventStore.organizationStream(organizationID), kind: "notice.returned", payload: event,
                                        now: now, on: db)
            try await EventStore.append(EventStore.userStream(notice.authorID), kind: "notice.returned", payload: event,
                                        now: now, on: db)
            return try await NoticeStore.find(notice.id, organization: organizationID, on: db) ?? notice
        }
        return NoticeView(record)
    }

    // MARK: - Dashboard, call list, answers

    /// Delivered / opened / confirmed, and who has not confirmed. Live updates arrive on the
    /// `notice:<id>` stream.
    /// `inClass`: the households with a child in that class only (a class teacher's view).
    public func status(_ actor: Actor, _ id: NoticeID, in organizationID: OrganizationID, inClass classID: ClassID? = nil,
                       logger: Logger) async throws -> NoticeStatusView {
        try await database.withConnection { db in
            _ = try await OrganizationAccess.confirm(.sendNotices, organizationID, actor: actor, lock: false, on: db)
            let notice = try await find(id, in: organizationID, on: db)
            let counts = try await NoticeRecipientStore.counts(notice: notice.id, messageID: notice.messageID, inClass: classID,
                                                               on: db)
            let open = try await NoticeRecipientStore.unconfirmed(notice: notice.id, inClass: classID, limit: Self.householdLimit,
                                                                  on: db)
            return NoticeStatusView(noticeId: notice.id, state: notice.state, counts: counts, unconfirmed: open.map { household in
                HouseholdView(householdId: household.householdID, children: household.children, classes: household.classes,
                              guardians: household.guardians.map { .init(id: $0.guardianID, name: $0.name, phone: nil) })
            }, escalatedAt: notice.escalatedAt)
        }
    }

    /// The households still unconfirmed, with every guardian's phone number recorded by the
    /// organization.
    public func callList(_ actor: Actor, _ id: NoticeID, in organizationID: OrganizationID, inClass classID: ClassID? = nil,
                         logger: Logger) async throws -> [HouseholdView] {
        let open = try await database.withConnection { db in
            _ = try await OrganizationAccess.confirm(.sendNotices, organizationID, actor: actor, lock: false, on: db)
            let notice = try await find(id, in: organizationID, on: db)
            return try await NoticeRecipientStore.unconfirmed(notice: notice.id, inClass: classID, limit: Self.householdLimit,
                                                              on: db)
        }
        logger.info("call list read", metadata: ["households": "\(open.count)"])
        return open.map { household in
            HouseholdView(householdId: household.householdID, children: household.children, classes: household.classes,
                          guardians: household.guardians.map { .init(id: $0.guardianID, name: $0.name, phone: $0.phone) })
        }
    }

    public func answers(_ actor: Actor, _ id: NoticeID, in organizationID: OrganizationID, logger: Logger) async throws -> NoticeAnswersView {
        let (notice, answers) = try await database.withConnection { db -> (NoticeRecord, [NoticeAnswerRecord]) in
            _ = try await OrganizationAccess.confirm(.sendNotices, organizationID, actor: actor, lock: false, on: db)
            let found = try await find(id, in: organizationID, on: db)
            return (found, try await NoticeRecipientStore.answers(notice: found.id, on: db))
        }
        guard let form = notice.form else { throw ServiceError.missing(code: "no_form", message: "this notice has no reply form") }
        var counts = Array(repeating: 0, count: form.options.count)
        for answer in answers {
            for choice in answer.choices where counts.indices.contains(choice) { counts[choice] += 1 }
        }
        let answered = answers.filter { $0.answeredAt != nil }.count
        let tallies = zip(form.options, counts).map { NoticeAnswersView.Tally(option: $0, count: $1) }
        let rows = answers.map { answer in
            NoticeAnswersView.Answer(childId: answer.childID, childName: answer.childName, className: answer.className, choices: answer.choices,
                                     text: answer.text, answeredBy: answer.answeredBy, answeredAt: answer.answeredAt)
        }
        return NoticeAnswersView(form: form, tallies: tallies, answered: answered, unanswered: answers.count - answered, answers: rows)
    }

    // MARK: - Custom lists

    public func lists(_ actor: Actor, in organizationID: OrganizationID, logger: Logger) async throws -> [NoticeListView] {
        try await database.withConnection { db in
            _ = try await OrganizationAccess.confirm(.sendNotices, organizationID, actor: actor, lock: false, on: db)
            return try await NoticeListStore.lists(organization: organizationID, on: db).map(NoticeListView.init)
        }
    }

    public func createList(_ actor: Actor, in organizationID: OrganizationID, name rawName: String, children: [ChildID], logger: Logger) async throws -> NoticeListView {
        let name = try Content.text(rawName, field: "name", max: 50)
        let children = try Self.childIDs(children)
        let now = services.clock.now()
        return NoticeListView(try await database.withTransaction { db -> NoticeListRecord in
            _ = try await OrganizationAccess.confirm(.sendNotices, organizationID, actor: actor, on: db)
            guard let id = try await NoticeListStore.insert(organization: organizationID, name: name, now: now, on: db) else {
                throw ServiceError.conflict("list_exists", "a list with this name exists")
            }
            return try await Self.setChildren(id, organization: organizationID, children: children, on: db)
        })
    }

    /// Renames a list (nil keeps its name) and replaces its children.
    public func updateList(_ actor: Actor, _ id: NoticeListID, in organizationID: OrganizationID, name rawName: String?, children: [ChildID],
                           logger: Logger) async throws -> NoticeListView {
        let name = try rawName.map { try Content.text($0, field: "name", max: 50) }
        let children = try Self.childIDs(children)
        return NoticeListView(try await database.withTransaction { db -> NoticeListRecord in
            _ = try await OrganizationAccess.confirm(.sendNotices, organizationID, actor: actor, on: db)
            guard try await NoticeListStore.lock(list: id, organization: organizationID, on: db) else { throw ServiceError.notFound }
            if let name {
                do {
                    try await NoticeListStore.rename(list: id, to: name, on: db)
                } catch where Database.isUniqueViolation(error) {
                    throw ServiceError.conflict("list_exists", "a list with this name exists")
                }
            }
            return try await Self.setChildren(id, organization: organizationID, children: children, on: db)
        })
    }

    public func deleteList(_ actor: Actor, _ id: NoticeListID, in organizationID: OrganizationID, logger: Logger) async throws {
        let deleted = try await database.withTransaction { db in
            _ = try await OrganizationAccess.confirm(.sendNotices, organizationID, actor: actor, on: db)
            return try await NoticeListStore.delete(list: id, organization: organizationID, on: db)
        }
        guard deleted else { throw ServiceError.notFound }
    }

    /// Replaces a list's children (invalid when one is not enrolled here) and returns the list.
    static func setChildren(
        _ list: NoticeListID, organization: OrganizationID, children: [ChildID], on db: DatabaseConnection
    ) async throws -> NoticeListRecord {
        guard try await NoticeListStore.setChildren(list: list, organization: organization, children: children, on: db) else {
            throw ValidationError(field: "childIds", code: "unknown_child", message: "every child must be enrolled here")
        }
        guard let record = try await NoticeListStore.lists(organization: organization, id: list, on: db).first else {
            throw ServiceError.notFound
        }
        return record
    }

    static func childIDs(_ ids: [ChildID]) throws -> [ChildID] {
        guard ids.count <= 2000 else { throw ValidationError(field: "childIds", code: "too_many", message: "at most 2000 children per list") }
        return ids
    }
}
