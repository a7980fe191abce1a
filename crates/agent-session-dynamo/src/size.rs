//! DynamoDB item-size arithmetic, as the store uses it to decide when to split an entry.
//!
//! DynamoDB caps an item at 400 KB (409,600 bytes), counting every attribute's **name** (UTF-8
//! bytes) and its value: strings as UTF-8 bytes, binary as raw bytes, numbers as about one byte
//! per two significant digits plus one, booleans and nulls as one byte, lists and maps as three
//! bytes plus their elements (and, for maps, the elements' names). The functions here err on the
//! large side, so "fits" here means DynamoDB accepts the item.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

/// The largest item DynamoDB stores: 400 KB.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

/// The size DynamoDB counts for one number, given as its decimal text (an upper bound: leading
/// and trailing zeros, the sign and the point are counted as digits).
pub fn number_size(text: &str) -> usize {
    text.len().div_ceil(2) + 1
}

/// The size DynamoDB counts for one attribute value, not counting its name.
pub fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(list) => list.iter().map(String::len).sum(),
        AttributeValue::Ns(list) => list.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(list) => list.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::L(list) => 3 + list.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(k, v)| 1 + k.len() + value_size(v))
                .sum::<usize>()
        }
        // A value type added to DynamoDB after this was written: count it as large as an item.
        _ => MAX_ITEM_BYTES,
    }
}

/// The size DynamoDB counts for a whole item: every attribute's name and value.
pub fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::primitives::Blob;

    #[test]
    fn counts_names_utf8_bytes_and_numbers() {
        let mut item = HashMap::new();
        item.insert("pk".to_owned(), AttributeValue::S("ü".into()));
        assert_eq!(item_size(&item), 2 + 2);
        item.insert("sk".to_owned(), AttributeValue::N("12345".into()));
        assert_eq!(item_size(&item), 4 + 2 + 3 + 1);
        item.insert("b".to_owned(), AttributeValue::B(Blob::new(vec![0u8; 10])));
        assert_eq!(item_size(&item), 10 + 1 + 10);
        item.insert(
            "m".to_owned(),
            AttributeValue::M(HashMap::from([(
                "ab".to_owned(),
                AttributeValue::Bool(true),
            )])),
        );
        assert_eq!(item_size(&item), 21 + 1 + 3 + 1 + 2 + 1);
    }
}
