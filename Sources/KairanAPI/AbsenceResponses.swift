import Hummingbird
import KairanStore

extension AbsenceRecord: ResponseEncodable {}
