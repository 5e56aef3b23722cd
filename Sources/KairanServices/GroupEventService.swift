import Foundation
import KairanCore
import KairanStore
import Logging
import PostgresNIO

/// An event as a member sees it.
public struct EventView: Codable, Sendable {
    public struct Person: Codable, Sendable {
        public let id: AccountID
        public let displayName: String
    }
    public struct Counts: Codable, Sendable {
        /// People (head counts) in 'going' and in 'maybe' answers; answers saying 'not going'.
        public let going: Int
        public let maybe: Int
        public let notGoing: Int
    }
    public struct MyAnswer: Codable, Sendable {
        public let answer: EventAnswer
        public let headCount: Int
        public let comment: String
        public let remindByMail: Bool
    }

    public let id: EventID
    public let groupId: GroupID
    public let groupName: String
    public let title: String
    public let description: String
    public let place: String
    public let startsAt: Date
    public let endsAt: Date
    public let capacity: Int?
    /// Places left under the capacity (nil: no limit).
    public let remaining: Int?
    public let answerDeadline: Date?
    public let organizer: Person?
    public let createdAt: Date
    public let updatedAt: Date
    public let cancelled: Bool
    public let cancelledAt: Date?
    public let cancelReason: String?
    /// Answers are taken now (not cancelled, before the deadline or the start).
    public let answersOpen: Bool
    public let counts: Counts
    /// The caller's own answer; absent in stream events (they are the same for everyone).
    public let myAnswer: MyAnswer?
    /// The caller may change or cancel the event and see everyone's answers.
    public let canManage: Bool

    init(_ event: GroupEventRecord, now: Date, mine: EventAnswerRecord?, canManage: Bool) {
        id = event.id; groupId = event.groupID; groupName = event.groupName; title = event.title; description = event.description
        place = event.place; startsAt = event.startsAt; endsAt = event.endsAt; capacity = event.capacity
        remaining = event.capacity.map { max(0, $0 - event.goingHeads) }
        answerDeadline = event.answerDeadline
        organizer = zip(event.createdBy, event.organizerName).map { Person(id: $0, displayName: $1) }
        createdAt = event.createdAt; updatedAt = event.updatedAt
        cancelled = event.cancelledAt != nil; cancelledAt = event.cancelledAt; cancelReason = event.cancelReason
        answersOpen = GroupEventService.answersOpen(event, now: now)
        counts = Counts(going: event.goingHeads, maybe: event.maybeHeads, notGoing: event.notGoingCount)
        myAnswer = mine.map { MyAnswer(answer: $0.answer, headCount: $0.headCount, comment: $0.comment, remindByMail: $0.remindByMail) }
        self.canManage = canManage
    }
}

private func zip<A, B>(_ a: A?, _ b: B?) -> (A, B)? {
    guard let a, let b else { return nil }
    return (a, b)
}

/// One answer in the organiser's list.
public struct EventAnswerView: Codable, Sendable {
    public let accountId: AccountID
    public let displayName: String
    public let answer: EventAnswer
    public let headCount: Int
    public let comment: String
    public let answeredAt: Date

    init(_ record: EventAnswerRecord) {
        accountId = record.accountID; displayName = record.displayName; answer = record.answer; headCount = record.headCount
        comment = record.comment; answeredAt = record.answeredAt
    }
}

/// Community events: group moderators hold them, members answer with a head count, the
/// organiser sees and exports the answers, the day before a reminder goes out (and by mail
/// to those who asked), and a cancellation or a new time or place is told to everyone who
/// answered. Every change commits with its stream events, notifications and mail jobs.
public struct GroupEventService: Sendable {
    let services: Services
    var database: Database { services.database }

    static func answersOpen(_ event: GroupEventRecord, now: Date) -> Bool {
        event.cancelledAt == nil && now < (event.answerDeadline ?? event.startsAt)
    }

    public struct Input: Sendable {
        public var title: String
        public var description: String?
        public var place: String
        public var startsAt: Date
        public var endsAt: Date
        public var capacity: Int?
        public var answerDeadline: Date?
        /// Set when the answer deadline was sent but is not a date-time: refused only after
        /// the check of who may hold the event, like every other rule of the input.
        public var answerDeadlineUnreadable: Bool
        public init(title: String, description: String?, place: String, startsAt: Date, endsAt: Date, capacity: Int?, answerDeadline: Date?,
                    answerDeadlineUnreadable: Bool = false) {
            self.title = title; self.description = description; self.place = place; self.startsAt = startsAt; self.endsAt = endsAt
            self.capacity = capacity; self.answerDeadline = answerDeadline; self.answerDeadlineUnreadable = answerDeadlineUnreadable
        }

        func validated(now: Date, isNew: Bool) throws(ValidationError) -> EventDraft {
            if answerDeadlineUnreadable {
                throw ValidationError(field: "answerDeadline", code: "invalid", message: "answerDeadline must be an RFC 3339 date-time or null")
            }
            return try EventDraft(title: title, description: description ?? "", place: place, startsAt: startsAt, endsAt: endsAt, capacity: capacity,
                                  answerDeadline: answerDeadline).validated(now: now, isNew: isNew)
        }
    }

    // MARK: - Organising

    /// Holds an event in the group (its moderators and owners).
    public func create(_ actor: Actor, in groupID: GroupID, _ input: Input, logger: Logger) async throws -> EventView {
        let now = services.clock.now()
        // Who may hold events is checked before the input: a stranger learns nothing
        // about a private group from a validation error.
        return try await database.withTransaction { db in
            _ = try await GroupAccess.group(.moderate, groupID, actor: actor, now: now, on: db)
            let draft = try input.validated(now: now, isNew: true)
            let id = try await GroupEventStore.insert(group: groupID, draft: draft, author: actor.accountID,
                                                      remindAt: draft.reminderTime(zone: services.timeZone, now: now), now: now, on: db)
            guard let event = try await GroupEventStore.find(id, on: db) else { throw ServiceError.notFound }
            try await announce("event.created", event, now: now, on: db)
            logger.info("event created", metadata: ["event_id": "\(id)", "group_id": "\(groupID)"])
            return EventView(event, now: now, mine: nil, canManage: true)
        }
    }

    /// Changes an event not yet over. A new time or place is told to everyone coming or
    /// perhaps coming, and a moved reminder goes out again before the new date.
    public func update(_ actor: Actor, _ id: EventID, _ input: Input, logger: Logger) async throws -> EventView {
        let now = services.clock.now()
        return try await database.withTransaction { db in
            let (event, _) = try await manageable(actor, id, now: now, on: db)
            let draft = try input.validated(now: now, isNew: false)
            guard event.cancelledAt == nil else { throw Self.cancelledError }
            guard event.endsAt > now else { throw ServiceError.conflict("event_over", "the event is over and can no longer be changed") }
            let moved = draft.startsAt != event.startsAt || draft.endsAt != event.endsAt || draft.place != event.place
            let remindAt = draft.startsAt == event.startsAt ? event.remindAt : draft.reminderTime(zone: services.timeZone, now: now)
            try await GroupEventStore.update(id, draft: draft, remindAt: remindAt, resetReminder: draft.startsAt != event.startsAt, now: now, on: db)
            guard let updated = try await GroupEventStore.find(id, on: db) else { throw ServiceError.notFound }
            try await announce("event.updated", updated, now: now, on: db)
            if moved {
                try await tell(updated, kind: "event.changed", answers: [.going, .maybe], now: now, on: db)
            }
            let mine = try await GroupEventStore.answer(event: id, account: actor.accountID, on: db)
            return EventView(updated, now: now, mine: mine, canManage: true)
        }
    }

    /// Cancels the event and tells everyone who answered (in the app; by mail those who
    /// asked for mail).
    public func cancel(_ actor: Actor, _ id: EventID, reason rawReason: String?, logger: Logger) async throws -> EventView {
        let now = services.clock.now()
        return try await database.withTransaction { db in
            let (event, _) = try await manageable(actor, id, now: now, on: db)
            let reason = try Content.text(rawReason ?? "", field: "reason", min: 0, max: EventDraft.cancelReasonMax, multiline: true)
            guard event.cancelledAt == nil else { throw Self.cancelledError }
            guard event.endsAt > now else { throw ServiceError.conflict("event_over", "the event is over and can no longer be cancelled") }
            try await GroupEventStore.cancel(id, reason: reason.isEmpty ? nil : reason, now: now, on: db)
            guard let cancelled = try await GroupEventStore.find(id, on: db) else { throw ServiceError.notFound }
            try await announce("event.cancelled", cancelled, now: now, on: db)
            let told = try await tell(cancelled, kind: "event.cancelled", answers: EventAnswer.allCases, now: now, on: db)
            logger.info("event cancelled", metadata: ["event_id": "\(id)", "told": "\(told)"])
            let mine = try await GroupEventStore.answer(event: id, account: actor.accountID, on: db)
            return EventView(cancelled, now: now, mine: mine, canManage: true)
        }
    }

    // MARK: - Reading

    public struct EventList: Sendable {
        public let items: [EventView]
        /// For the next page of past events (their start time).
        public let nextBefore: Date?
    }

    /// A group's events not yet over, soonest first; or (`past`) those over, latest first.
    public func events(_ actor: Actor, in groupID: GroupID, past: Bool, before: Date?, limit: Int, logger: Logger) async throws -> EventList {
        let now = services.clock.now()
        return try await database.withConnection { db in
            let (_, standing) = try await GroupAccess.group(.read, groupID, actor: actor, now: now, on: db)
            let moderator = GroupAccess.isModerator(actor, in: standing)
            let events = try await GroupEventStore.list(group: groupID, past: past, before: before, limit: limit, now: now, on: db)
            var views: [EventView] = []
            for event in events {
                let mine = standing.role == nil ? nil : try await GroupEventStore.answer(event: event.id, account: actor.accountID, on: db)
                views.append(EventView(event, now: now, mine: mine, canManage: moderator || Self.organises(actor, event, standing)))
            }
            return EventList(items: views, nextBefore: past && events.count == limit ? events.last?.startsAt : nil)
        }
    }

    public func event(_ actor: Actor, _ id: EventID, logger: Logger) async throws -> EventView {
        let now = services.clock.now()
        return try await database.withConnection { db in
            let (event, standing) = try await readable(actor, id, now: now, on: db)
            let mine = try await GroupEventStore.answer(event: id, account: actor.accountID, on: db)
            return EventView(event, now: now, mine: mine,
                             canManage: GroupAccess.isModerator(actor, in: standing) || Self.organises(actor, event, standing))
        }
    }

    /// Everyone's answers (the organiser and the group's moderators).
    public func answers(_ actor: Actor, _ id: EventID, logger: Logger) async throws -> [EventAnswerView] {
        let now = services.clock.now()
        return try await database.withConnection { db in
            _ = try await manageable(actor, id, now: now, on: db)
            return try await GroupEventStore.answers(event: id, on: db).map(EventAnswerView.init)
        }
    }

    /// The answers as a spreadsheet for the organiser: one row per answer, totals last.
    public func answersCSV(_ actor: Actor, _ id: EventID, logger: Logger) async throws -> (event: EventView, csv: String) {
        let now = services.clock.now()
        return try await database.withConnection { db in
            let (event, _) = try await manageable(actor, id, now: now, on: db)
            let answers = try await GroupEventStore.answers(event: id, on: db)
            let zone = services.timeZone
            var lines = ["名前,回答,人数,コメント,回答日時"]
            for answer in answers {
                lines.append([answer.displayName, Self.answerLabel(answer.answer), String(answer.headCount), answer.comment,
                              EventText.dateTime(answer.answeredAt, zone: zone)].map(CSV.field).joined(separator: ","))
            }
            lines.append(["合計（参加）", "", String(event.goingHeads), "", ""].map(CSV.field).joined(separator: ","))
            lines.append(["合計（未定）", "", String(event.maybeHeads), "", ""].map(CSV.field).joined(separator: ","))
            // CRLF (RFC 4180), and a BOM so Excel at the town office reads it as UTF-8.
            let csv = "\u{FEFF}" + lines.joined(separator: "\r\n") + "\r\n"
            return (EventView(event, now: now, mine: nil, canManage: true), csv)
        }
    }

    /// The event as an `.ics` file for a phone's calendar.
    public func calendar(_ actor: Actor, _ id: EventID, logger: Logger) async throws -> String {
        let now = services.clock.now()
        return try await database.withConnection { db in
            let (event, _) = try await readable(actor, id, now: now, on: db)
            let base = services.publicURL.hasSuffix("/") ? String(services.publicURL.dropLast()) : services.publicURL
            let host = URL(string: base)?.host ?? "kairan"
            return ICalendarEvent(
                uid: "event-\(event.id)@\(host)", stamp: event.updatedAt, sequence: event.revision, start: event.startsAt, end: event.endsAt,
                summary: event.cancelledAt == nil ? event.title : "【中止】" + event.title, location: event.place,
                description: event.description, url: "\(base)/events/\(event.id)", cancelled: event.cancelledAt != nil
            ).render()
        }
    }

    // MARK: - Answering

    /// Records (or changes) the caller's answer. Going beyond the places left is refused;
    /// so is answering a cancelled event or after the deadline.
    /// An answer as it arrived, checked only once the event is known to be the actor's to
    /// answer (a stranger gets 404, never a remark about the head count).
    public struct ReplyInput: Sendable {
        public var answer: EventAnswer
        public var headCount: Int?
        public var comment: String?
        public var remindByMail: Bool
        public init(answer: EventAnswer, headCount: Int?, comment: String?, remindByMail: Bool) {
            self.answer = answer; self.headCount = headCount; self.comment = comment; self.remindByMail = remindByMail
        }
    }

    public func answer(_ actor: Actor, _ id: EventID, _ input: ReplyInput, logger: Logger) async throws -> EventView {
        let now = services.clock.now()
        return try await database.withTransaction { db in
            // The event's row is locked: two answers cannot both take the last places.
            guard let event = try await GroupEventStore.find(id, lock: true, on: db) else { throw ServiceError.notFound }
            let (_, standing) = try await GroupAccess.group(.participate, event.groupID, actor: actor, now: now, on: db)
            let reply = try EventReply(answer: input.answer, headCount: input.headCount, comment: input.comment, remindByMail: input.remindByMail)
            guard event.cancelledAt == nil else { throw Self.cancelledError }
            guard Self.answersOpen(event, now: now) else {
                throw ServiceError.conflict("answers_closed", "answers to this event closed at its deadline")
            }
            if let capacity = event.capacity, reply.answer == .going {
                let others = try await GroupEventStore.goingHeads(event: id, excluding: actor.accountID, on: db)
                if others + reply.headCount > capacity {
                    throw ServiceError.conflict(code: "event_full", message: "only \(max(0, capacity - others)) places are left", field: "headCount")
                }
            }
            try await GroupEventStore.answer(event: id, account: actor.accountID, reply: reply, now: now, on: db)
            guard let updated = try await GroupEventStore.find(id, on: db) else { throw ServiceError.notFound }
            // The counts changed for everyone reading the group.
            try await announce("event.answers", updated, now: now, on: db)
            let mine = try await GroupEventStore.answer(event: id, account: actor.accountID, on: db)
            return EventView(updated, now: now, mine: mine,
                             canManage: GroupAccess.isModerator(actor, in: standing) || Self.organises(actor, updated, standing))
        }
    }

    // MARK: - The day-before reminder

    /// Sends the reminders that are due, each in its own transaction (claimed with SKIP
    /// LOCKED, marked sent with its notifications and mail jobs): any number of workers may
    /// run this, and a crash leaves a reminder to the next pass, never half-sent. Returns how
    /// many events were handled.
    public func sendDueReminders(logger: Logger) async throws -> Int {
        var handled = 0
        while true {
            let now = services.clock.now()
            let ids = try await database.withConnection { db in try await GroupEventStore.dueReminders(now: now, limit: 50, on: db) }
            var sent = 0
            for id in ids {
                do {
                    if try await remind(id, now: now, logger: logger) { sent += 1 }
                } catch {
                    // Ten minutes later, so one event that cannot be sent does not hold up
                    // the others' reminders.
                    logger.error("event reminder failed; postponed", metadata: ["event_id": "\(id)", "error_type": "\(type(of: error))"])
                    try await database.withConnection { db in
                        try await GroupEventStore.postponeReminder(id, until: now.addingTimeInterval(600), on: db)
                    }
                }
            }
            handled += sent
            if sent == 0 { return handled }
        }
    }

    private func remind(_ id: EventID, now: Date, logger: Logger) async throws -> Bool {
        try await database.withTransaction { db in
            guard try await GroupEventStore.lockDueReminder(id, now: now, on: db),
                  let event = try await GroupEventStore.find(id, on: db) else { return false }
            // A reminder overdue until after the start (the workers were down) is dropped:
            // "tomorrow" would be wrong by then.
            if event.startsAt > now {
                let told = try await tell(event, kind: "event.reminder", answers: [.going, .maybe], now: now, on: db)
                logger.info("event reminder sent", metadata: ["event_id": "\(id)", "told": "\(told)"])
            }
            try await GroupEventStore.markReminded(id, now: now, on: db)
            return true
        }
    }

    /// When the next reminder falls due.
    public func nextReminder() async throws -> Date? {
        try await database.withConnection { db in try await GroupEventStore.nextReminder(on: db) }
    }

    // MARK: - Helpers

    static let cancelledError = ServiceError.conflict("event_cancelled", "the event has been cancelled")

    static func organises(_ actor: Actor, _ event: GroupEventRecord, _ standing: GroupStanding) -> Bool {
        event.createdBy == actor.accountID && standing.role != nil && !standing.banned
    }

    private func readable(_ actor: Actor, _ id: EventID, now: Date, on db: DatabaseConnection) async throws -> (GroupEventRecord, GroupStanding) {
        guard let event = try await GroupEventStore.find(id, on: db) else { throw ServiceError.notFound }
        let (_, standing) = try await GroupAccess.group(.read, event.groupID, actor: actor, now: now, on: db)
        return (event, standing)
    }

    /// The event, locked, when the caller organises it or moderates its group.
    private func manageable(_ actor: Actor, _ id: EventID, now: Date, on db: DatabaseConnection) async throws -> (GroupEventRecord, GroupStanding) {
        guard let event = try await GroupEventStore.find(id, lock: true, on: db) else { throw ServiceError.notFound }
        let (_, standing) = try await GroupAccess.group(.read, event.groupID, actor: actor, now: now, on: db)
        guard GroupAccess.isModerator(actor, in: standing) || Self.organises(actor, event, standing) else {
            throw ServiceError.forbidden("only the event's organiser and the group's moderators may do this")
        }
        return (event, standing)
    }

    /// The event's new state on the group's stream (the same for every reader).
    private func announce(_ kind: String, _ event: GroupEventRecord, now: Date, on db: DatabaseConnection) async throws {
        try await EventStore.append(EventStore.groupStream(event.groupID), kind: kind,
                                    payload: EventView(event, now: now, mine: nil, canManage: false), now: now, on: db)
    }

    /// A notification to each member who answered with one of `answers`, and one mail to
    /// each of them who asked for mail. Returns how many were told.
    @discardableResult
    private func tell(_ event: GroupEventRecord, kind: String, answers: [EventAnswer], now: Date, on db: DatabaseConnection) async throws -> Int {
        let audience = try await GroupEventStore.audience(event: event.id, answers: answers, on: db)
        guard !audience.isEmpty else { return 0 }
        let payload = NotificationPayload(groupId: event.groupID, groupName: event.groupName, excerpt: event.title, reason: event.cancelReason,
                                          eventId: event.id)
        try await Notifier.notify(audience.map(\.accountID), kind: kind, payload, now: now, on: db)
        let recipients = audience.compactMap { member -> DeliveryStore.Recipient? in
            guard let email = member.email, let address = try? EmailAddress(email) else { return nil }
            return DeliveryStore.Recipient(key: "account:\(member.accountID)", address: address)
        }
        guard !recipients.isEmpty else { return audience.count }
        let mail = EventText.mail(kind: kind, event: event, zone: services.timeZone, publicURL: services.publicURL)
        // One message per event and change: a repeated pass finds it and adds nothing.
        let (message, _) = try await DeliveryStore.createMessage(
            kind: kind, idempotencyKey: "\(kind):\(event.id):\(event.revision)", urgent: false, fromName: String(event.groupName.prefix(40)),
            subject: mail.subject, body: mail.body, listID: nil, deadline: nil, now: now, on: db)
        try await DeliveryStore.enqueueMail(message: message, recipients: recipients, urgent: false, dueAt: now, on: db)
        return audience.count
    }

    static func answerLabel(_ answer: EventAnswer) -> String {
        switch answer {
        case .going: return "参加"
        case .maybe: return "未定"
        case .notGoing: return "不参加"
        }
    }
}

/// The Japanese words of event mail and dates.
public enum EventText {
    /// `2026年12月5日(土) 9:00〜11:00`, or both dates when the event spans days.
    public static func when(_ start: Date, _ end: Date, zone: TimeZone) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        if calendar.isDate(start, inSameDayAs: end) {
            return dateTime(start, zone: zone) + "〜" + time(end, zone: zone)
        }
        return dateTime(start, zone: zone) + " 〜 " + dateTime(end, zone: zone)
    }

    public static func dateTime(_ date: Date, zone: TimeZone) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let c = calendar.dateComponents([.year, .month, .day, .weekday], from: date)
        let weekdays = ["日", "月", "火", "水", "木", "金", "土"]
        return "\(c.year ?? 0)年\(c.month ?? 0)月\(c.day ?? 0)日(\(weekdays[((c.weekday ?? 1) - 1) % 7])) " + time(date, zone: zone)
    }

    static func time(_ date: Date, zone: TimeZone) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let c = calendar.dateComponents([.hour, .minute], from: date)
        let minute = c.minute ?? 0
        return "\(c.hour ?? 0):" + (minute < 10 ? "0\(minute)" : "\(minute)")
    }

    static func mail(kind: String, event: GroupEventRecord, zone: TimeZone, publicURL: String) -> (subject: String, body: String) {
        let base = publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL
        let title = String(event.title.prefix(60))
        let (subject, opening): (String, String)
        switch kind {
        case "event.cancelled":
            subject = "【中止】\(title)"
            opening = "\(event.groupName)の行事「\(event.title)」は中止になりました。"
        case "event.changed":
            subject = "【変更】\(title)"
            opening = "\(event.groupName)の行事「\(event.title)」の日時または場所が変わりました。"
        default:
            subject = "【明日の行事】\(title)"
            opening = "\(event.groupName)の行事「\(event.title)」は明日です。"
        }
        var body = opening + "\n\n日時: \(when(event.startsAt, event.endsAt, zone: zone))\n場所: \(event.place)\n"
        if kind == "event.cancelled", let reason = event.cancelReason { body += "理由: \(reason)\n" }
        body += "\n詳しくはこちら:\n\(base)/events/\(event.id)\n"
        body += "\n--\nこのメールは、この行事に出欠を答え「メールでも知らせる」を選んだ方に送っています。\n"
        return (subject, body)
    }
}
