/// A rule a value broke, phrased for the person who sent it.
public struct ValidationError: Error, Equatable, Sendable {
    public let field: String
    public let code: String
    /// In English, with the exact rule broken.
    public let message: String
    /// In Japanese, when the catalogue's words for `code` (`ErrorText`) would leave out a
    /// detail the person needs, such as the limit.
    public let japanese: String?

    public init(field: String, code: String, message: String, japanese: String? = nil) {
        self.field = field
        self.code = code
        self.message = message
        self.japanese = japanese
    }

    /// What to tell a person in `language`.
    public func message(in language: MessageLanguage) -> String {
        language == .en ? message : japanese ?? ErrorText.japanese(code: code, field: field)
    }
}

/// Limits on what people may send. One place, so the API, the docs and the tests agree.
public enum Limits {
    public static let passwordMinCharacters = 8
    /// bcrypt reads only the first 72 bytes; longer passwords would silently match prefixes.
    public static let passwordMaxBytes = 72
    public static let displayNameMaxCharacters = 50
    /// Largest JSON body any API route accepts.
    public static let maxJSONBodyBytes = 64 * 1024
}

public enum Password {
    public static func validate(_ password: String) throws(ValidationError) {
        if password.count < Limits.passwordMinCharacters {
            throw ValidationError(field: "password", code: "too_short", message: "password must be at least \(Limits.passwordMinCharacters) characters",
                                  japanese: "パスワードは \(Limits.passwordMinCharacters) 文字以上にしてください。")
        }
        if password.utf8.count > Limits.passwordMaxBytes {
            throw ValidationError(field: "password", code: "too_long", message: "password must be at most \(Limits.passwordMaxBytes) bytes in UTF-8",
                                  japanese: "パスワードが長すぎます（半角 \(Limits.passwordMaxBytes) 文字まで、全角はその 1/3 ほど）。")
        }
    }
}

public enum DisplayName {
    /// Trims surrounding white space (including the ideographic space U+3000) and checks length
    /// and control characters. Returns the name to store.
    public static func validate(_ name: String) throws(ValidationError) -> String {
        let trimmed = name.trimmingWhitespace()
        if trimmed.isEmpty {
            throw ValidationError(field: "displayName", code: "required", message: "displayName must not be empty")
        }
        if trimmed.count > Limits.displayNameMaxCharacters {
            throw ValidationError(field: "displayName", code: "too_long", message: "displayName must be at most \(Limits.displayNameMaxCharacters) characters",
                                  japanese: "表示名は \(Limits.displayNameMaxCharacters) 文字以内にしてください。")
        }
        if trimmed.unicodeScalars.contains(where: { $0.properties.generalCategory == .control || $0.properties.generalCategory == .format && $0 != "\u{200D}" }) {
            throw ValidationError(field: "displayName", code: "invalid_characters", message: "displayName must not contain control characters")
        }
        return trimmed
    }
}

extension String {
    func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let start = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
              let end = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(scalars[start...end])
    }
}
