use super::*;

#[test]
fn depth_counts_container_levels() {
    let mut v = Value::Int(0);
    for _ in 0..10 {
        v = Value::List(vec![v]);
    }
    assert_eq!(v.depth(), 11);
    assert_eq!(
        Value::Dict(vec![(Value::None, Value::Tuple(vec![]))]).depth(),
        2
    );
}

#[test]
fn native_excludes_refs_code_and_pickles() {
    let native = Value::Dict(vec![(
        Value::Str("a".into()),
        Value::Bytes(Box::new([1, 2])),
    )]);
    assert!(native.is_native());
    let with_pickle = Value::List(vec![
        Value::Int(1),
        Value::Pickle(Box::new(Pickled::plain(Box::new([0x80])))),
    ]);
    assert!(!with_pickle.is_native());
    let r = Value::Ref {
        module: "m".into(),
        qualname: "f".into(),
    };
    assert!(!Value::Tuple(vec![r]).is_native());
}

#[test]
fn type_names_match_python() {
    assert_eq!(Value::BigInt(vec![0; 9]).type_name(), "int");
    assert_eq!(Value::StrSurrogates(Box::new([])).type_name(), "str");
    assert_eq!(Value::FrozenSet(vec![]).type_name(), "frozenset");
    assert_eq!(Value::Complex(1.0, 2.0).type_name(), "complex");
}

#[test]
fn heap_size_grows_with_content() {
    let small = Value::Bytes(vec![0; 10].into());
    let big = Value::Bytes(vec![0; 10_000].into());
    assert!(big.heap_size() > small.heap_size());
    assert!(Value::List(vec![big.clone(), big]).heap_size() >= 20_000);
}

#[test]
fn clones_are_deep_and_equal() {
    let v = Value::List(vec![Value::Str("x".into()), Value::Float(1.5)]);
    let w = v.clone();
    assert_eq!(v, w);
}

#[test]
fn shared_handles_compare_by_identity() {
    use std::sync::Arc;
    let a = Shared::new(SharedKind::Buffer, Arc::new(1u8));
    let b = Shared::new(SharedKind::Buffer, Arc::new(1u8));
    assert_eq!(Value::Shared(a.clone()), Value::Shared(a.clone()));
    assert_ne!(Value::Shared(a), Value::Shared(b));
}
