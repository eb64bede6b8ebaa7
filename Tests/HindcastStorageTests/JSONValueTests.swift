import Foundation
import HindcastStorage
import HindcastSupport
import Testing

@Suite struct JSONValueTests {
  @Test func parsesEveryCaseAndKeepsBoolsApartFromNumbers() throws {
    let value = try JSONValue(parsing: Array(#"{"b":[1,2.5,"x",null,true,0],"a":{"z":false}}"#.utf8))
    #expect(value["b"]?[0] == .number(1))
    #expect(value["b"]?[1]?.doubleValue == 2.5)
    #expect(value["b"]?[2]?.stringValue == "x")
    #expect(value["b"]?[3]?.isNull == true)
    #expect(value["b"]?[4] == .bool(true))
    #expect(value["b"]?[5] == .number(0))
    #expect(value["b"]?[6] == nil)
    #expect(value["a"]?["z"]?.boolValue == false)
    #expect(value["missing"] == nil)
    #expect(value.jsonText == #"{"a":{"z":false},"b":[1,2.5,"x",null,true,0]}"#)
    #expect(value.description == value.jsonText)
  }

  @Test func literalsRoundTripThroughCodable() throws {
    let value: JSONValue = [
      "passed": true, "cases": [1, 2, 3], "ratio": 0.125, "note": nil, "name": "sum/two",
      "nested": ["deep": [[], [:]]],
    ]
    let data = try JSONEncoder().encode(value)
    #expect(try JSONDecoder().decode(JSONValue.self, from: data) == value)
    #expect(
      value.jsonText
        == #"{"cases":[1,2,3],"name":"sum/two","nested":{"deep":[[],{}]},"note":null,"passed":true,"ratio":0.125}"#
    )
  }

  @Test func sameObjectAlwaysRendersTheSameBytes() {
    let keys = (0..<50).map { "key\($0)" }
    let forward = JSONValue.object(Dictionary(uniqueKeysWithValues: keys.map { ($0, JSONValue.string($0)) }))
    let backward = JSONValue.object(
      Dictionary(uniqueKeysWithValues: keys.reversed().map { ($0, JSONValue.string($0)) }))
    #expect(forward == backward)
    #expect(forward.jsonText == backward.jsonText)
    #expect(forward.jsonText?.hasPrefix(#"{"key0":"key0","key1":"key1","key10":"#) == true)
  }

  @Test func convertsToAndFromTypedValues() throws {
    struct Detail: Codable, Equatable {
      var expected: Int
      var got: Int?
      var message: String
    }
    let detail = Detail(expected: 4, got: nil, message: "off by one")
    let value = try JSONValue(encoding: detail)
    #expect(value["expected"]?.intValue == 4)
    #expect(try value.decode(as: Detail.self) == detail)
    let error = expectHindcastError(.invalidInput, mentioning: ["message"]) {
      _ = try JSONValue.object(["expected": 4]).decode(as: Detail.self)
    }
    #expect(error != nil)
  }

  @Test func numbersAndInvalidInput() throws {
    #expect(JSONValue.number(3).intValue == 3)
    #expect(JSONValue.number(3.5).intValue == nil)
    #expect(JSONValue.number(1e300).intValue == nil)
    #expect(JSONValue.string("3").intValue == nil)
    #expect(JSONValue.number(3).jsonText == "3")
    #expect(JSONValue.number(.nan).jsonText == nil)
    #expect(JSONValue.array([.number(.infinity)]).description == "[inf]")
    expectHindcastError(.invalidInput) { _ = try JSONValue(encoding: Double.nan) }
    expectHindcastError(.invalidInput, mentioning: ["not valid JSON"]) {
      _ = try JSONValue(parsing: Array("{\"a\":".utf8))
    }
  }
}
