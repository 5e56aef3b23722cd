import KairanCore
import Testing

@Suite struct EmailAddressTests {
    @Test(arguments: [
        "taro..yamada@docomo.ne.jp",
        "hanako.@ezweb.ne.jp",
        ".dot-first@softbank.ne.jp",
        "ordinary.name+tag@example.jp",
        "UPPER.case@I.SOFTBANK.JP",
    ])
    func acceptsLegacyCarrierAndOrdinaryAddresses(_ input: String) throws {
        let address = try EmailAddress(input)
        #expect(address.raw == input, "stored byte-exact")
    }

    @Test func comparisonFoldsOnlyTheDomain() throws {
        let a = try EmailAddress("Taro..Yamada@DOCOMO.ne.jp")
        let b = try EmailAddress("Taro..Yamada@docomo.ne.jp")
        let c = try EmailAddress("taro..yamada@docomo.ne.jp")
        #expect(a.comparisonKey == b.comparisonKey)
        #expect(a.comparisonKey != c.comparisonKey, "local parts are case-sensitive")
    }

    @Test func legacyFormsNeedQuotingInSMTP() throws {
        #expect(try EmailAddress("taro..yamada@docomo.ne.jp").needsQuotedLocalPart)
        #expect(try EmailAddress("hanako.@ezweb.ne.jp").needsQuotedLocalPart)
        #expect(try !EmailAddress("hanako@ezweb.ne.jp").needsQuotedLocalPart)
    }

    @Test(arguments: [
        "", "no-at-sign", "@docomo.ne.jp", "a@", "a@localhost", "a b@example.jp",
        "a@example.jp\r\nBcc: victim@example.jp", "a\n@example.jp", "\"quoted\"@example.jp",
        "a<b>@example.jp", "a@exa mple.jp", "a@-bad.jp", "山田@example.jp",
    ])
    func refusesAnythingThatCouldBreakAHeaderOrCommand(_ input: String) {
        #expect(throws: ValidationError.self) { try EmailAddress(input) }
    }

    @Test func refusesOverlongAddresses() {
        let local = String(repeating: "a", count: 65)
        #expect(throws: ValidationError.self) { try EmailAddress("\(local)@example.jp") }
        let domain = (0..<60).map { _ in "abcd" }.joined(separator: ".") + ".jp"
        #expect(throws: ValidationError.self) { try EmailAddress("a@\(domain)") }
    }

    @Test func redactedFormHidesTheLocalPart() throws {
        let address = try EmailAddress("taro..yamada@DoCoMo.ne.jp")
        #expect(address.redacted == "t***@docomo.ne.jp")
        #expect(!"\(address)".contains("yamada"), "string interpolation must not leak the address")
    }
}

@Suite struct InputValidationTests {
    @Test func passwordLimits() {
        #expect(throws: ValidationError.self) { try Password.validate("short") }
        #expect(throws: ValidationError.self) { try Password.validate(String(repeating: "あ", count: 25)) }  // 75 bytes
        #expect(throws: Never.self) { try Password.validate("long enough") }
    }

    @Test func displayNameIsTrimmedAndChecked() throws {
        #expect(try DisplayName.validate("\u{3000} 山田 太郎 ") == "山田 太郎")
        #expect(throws: ValidationError.self) { try DisplayName.validate("\u{3000}") }
        #expect(throws: ValidationError.self) { try DisplayName.validate("名前\u{0007}") }
        #expect(throws: ValidationError.self) { try DisplayName.validate(String(repeating: "名", count: 51)) }
    }
}
