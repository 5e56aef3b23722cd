import Foundation

/// Community events (地区の行事): a group's event members answer with a head count.
public typealias EventID = Int64

public enum EventAnswer: String, CaseIterable, Codable, Sendable {
    case going
    case maybe
    case notGoing = "not_going"
}

/// What an organiser writes for an event, checked against the rules before it is stored.
public struct EventDraft: Sendable, Equatable {
    public static let titleMax = 100
    public static let descriptionMax = 5000
    public static let placeMax = 200
    public static let capacityMax = 100_000
    public static let cancelReasonMax = 500
    public static let commentMax = 200
    /// People one answer may bring, the member included (a family with its children).
    public static let headCountMax = 20
    /// Longest event: a two-week 夏祭り week is the most a town holds.
    public static let longest: TimeInterval = 14 * 86_400
    /// Furthest ahead an event may be planned.
    public static let furthestAhead: TimeInterval = 2 * 366 * 86_400

    public var title: String
    public var description: String
    public var place: String
    public var startsAt: Date
    public var endsAt: Date
    public var capacity: Int?
    public var answerDeadline: Date?

    public init(title: String, description: String, place: String, startsAt: Date, endsAt: Date, capacity: Int?, answerDeadline: Date?) {
        self.title = title; self.description = description; self.place = place
        self.startsAt = startsAt; self.endsAt = endsAt; self.capacity = capacity; self.answerDeadline = answerDeadline
    }

    /// The draft with its texts trimmed, or the first rule it breaks. `now` rules out events
    /// already begun (`isNew`: an edit may keep the start of an event under way).
    public func validated(now: Date, isNew: Bool) throws(ValidationError) -> EventDraft {
        var draft = self
        draft.title = try Content.text(title, field: "title", max: Self.titleMax)
        draft.description = try Content.text(description, field: "description", min: 0, max: Self.descriptionMax, multiline: true)
        draft.place = try Content.text(place, field: "place", max: Self.placeMax)
        if isNew && startsAt <= now {
            throw ValidationError(field: "startsAt", code: "in_the_past", message: "startsAt must be in the future")
        }
        if startsAt > now.addingTimeInterval(Self.furthestAhead) {
            throw ValidationError(field: "startsAt", code: "out_of_range", message: "startsAt must be within two years",
                                  japanese: "「開始日時」は 2 年以内にしてください。")
        }
        if endsAt <= startsAt {
            throw ValidationError(field: "endsAt", code: "ends_before_start", message: "endsAt must be after startsAt")
        }
        if endsAt.timeIntervalSince(startsAt) > Self.longest {
            throw ValidationError(field: "endsAt", code: "out_of_range", message: "an event lasts at most 14 days",
                                  japanese: "行事の期間は 14 日以内にしてください。")
        }
        if let capacity, !(1...Self.capacityMax).contains(capacity) {
            throw ValidationError(field: "capacity", code: "out_of_range", message: "capacity must be between 1 and \(Self.capacityMax)",
                                  japanese: "「定員」は 1 から \(Self.capacityMax) までにしてください。")
        }
        if let answerDeadline, answerDeadline > startsAt {
            throw ValidationError(field: "answerDeadline", code: "deadline_after_start", message: "answerDeadline must not be after startsAt")
        }
        return draft
    }

    /// When the day-before reminder goes: 18:00 on the day before the event's first day, in
    /// the town's time zone (前日の夕方: the evening before, not 24 hours before, so a 7:00
    /// clean-up is not announced at 7:00 the day before). Nil when that moment has passed.
    public func reminderTime(zone: TimeZone, now: Date) -> Date? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let day = calendar.startOfDay(for: startsAt)
        guard let dayBefore = calendar.date(byAdding: .day, value: -1, to: day),
              let evening = calendar.date(bySettingHour: 18, minute: 0, second: 0, of: dayBefore) else { return nil }
        return evening > now ? evening : nil
    }
}

/// One member's answer, checked.
public struct EventReply: Sendable, Equatable {
    public var answer: EventAnswer
    public var headCount: Int
    public var comment: String
    public var remindByMail: Bool

    public init(answer: EventAnswer, headCount: Int?, comment: String?, remindByMail: Bool) throws(ValidationError) {
        self.answer = answer
        switch answer {
        case .notGoing:
            if let headCount, headCount != 0 {
                throw ValidationError(field: "headCount", code: "out_of_range", message: "headCount must be 0 (or absent) when not going")
            }
            self.headCount = 0
        case .going, .maybe:
            let count = headCount ?? 1
            guard (1...EventDraft.headCountMax).contains(count) else {
                throw ValidationError(field: "headCount", code: "out_of_range", message: "headCount must be between 1 and \(EventDraft.headCountMax)",
                                      japanese: "「人数」は 1 から \(EventDraft.headCountMax) 人までにしてください。")
            }
            self.headCount = count
        }
        self.comment = try Content.text(comment ?? "", field: "comment", min: 0, max: EventDraft.commentMax)
        self.remindByMail = remindByMail
    }
}
