package xdatabase

import (
	"encoding"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"

	"google.golang.org/protobuf/types/known/structpb"
)

// toStruct encodes a typed object as the protobuf Struct its JSON encoding
// describes (json tags, omitempty, embedded structs inlined, json.Marshaler
// honoured) without building a map first: converting the composed
// resources through unstructured maps and then into Structs was half of
// the function's time.
func toStruct(o any) (*structpb.Struct, error) { return toStructIn(&arena{}, o) }

// toStructIn is toStruct taking its Values from a.
func toStructIn(a *arena, o any) (*structpb.Struct, error) {
	v := reflect.ValueOf(o)
	if !v.IsValid() {
		return nil, fmt.Errorf("%T does not encode to an object", o)
	}
	e, err := encoderFor(v.Type())(v, a)
	if err != nil {
		return nil, err
	}
	s := e.GetStructValue()
	if s == nil {
		return nil, fmt.Errorf("%T does not encode to an object", o)
	}
	return s, nil
}

// An encoder turns a value of one Go type into a protobuf Value. Each type's
// encoder is built once: deciding per value whether a type implements
// json.Marshaler, or which fields it has, was a sixth of a call.
type encoder func(v reflect.Value, a *arena) (*structpb.Value, error)

var encoders sync.Map // reflect.Type -> encoder

// encoderFor returns t's encoder, building it on first use. A recursive
// type meets its own placeholder, which waits for the real encoder, as
// encoding/json does.
func encoderFor(t reflect.Type) encoder {
	if e, ok := encoders.Load(t); ok {
		return e.(encoder)
	}
	var (
		wg sync.WaitGroup
		f  encoder
	)
	wg.Add(1)
	e, loaded := encoders.LoadOrStore(t, encoder(func(v reflect.Value, a *arena) (*structpb.Value, error) {
		wg.Wait()
		return f(v, a)
	}))
	if loaded {
		return e.(encoder)
	}
	f = newEncoder(t)
	wg.Done()
	encoders.Store(t, f)
	return f
}

var (
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
	zeroer        = reflect.TypeFor[interface{ IsZero() bool }]()
)

func newEncoder(t reflect.Type) encoder {
	if t.Implements(jsonMarshaler) {
		return func(v reflect.Value, a *arena) (*structpb.Value, error) { return viaJSON(v) }
	}
	if reflect.PointerTo(t).Implements(jsonMarshaler) {
		plain := kindEncoder(t)
		return func(v reflect.Value, a *arena) (*structpb.Value, error) {
			if v.CanAddr() {
				return viaJSON(v)
			}
			return plain(v, a)
		}
	}
	if t.Kind() != reflect.Pointer && t.Implements(textMarshaler) {
		return func(v reflect.Value, a *arena) (*structpb.Value, error) {
			b, err := v.Interface().(encoding.TextMarshaler).MarshalText()
			if err != nil {
				return nil, err
			}
			return a.str(string(b)), nil
		}
	}
	return kindEncoder(t)
}

func kindEncoder(t reflect.Type) encoder {
	switch t.Kind() {
	case reflect.Pointer:
		elem := encoderFor(t.Elem())
		return func(v reflect.Value, a *arena) (*structpb.Value, error) {
			if v.IsNil() {
				return a.null(), nil
			}
			return elem(v.Elem(), a)
		}
	case reflect.Interface:
		return func(v reflect.Value, a *arena) (*structpb.Value, error) {
			if v.IsNil() {
				return a.null(), nil
			}
			e := v.Elem()
			return encoderFor(e.Type())(e, a)
		}
	case reflect.Struct:
		return structEncoder(t)
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return func(v reflect.Value, a *arena) (*structpb.Value, error) {
				if v.IsNil() {
					return a.null(), nil
				}
				return viaJSON(v)
			}
		}
		elem := encoderFor(t.Elem())
		return func(v reflect.Value, a *arena) (*structpb.Value, error) {
			if v.IsNil() {
				return a.null(), nil
			}
			fields := make(map[string]*structpb.Value, v.Len())
			for it := v.MapRange(); it.Next(); {
				e, err := elem(it.Value(), a)
				if err != nil {
					return nil, err
				}
				fields[it.Key().String()] = e
			}
			return a.object(fields), nil
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return func(v reflect.Value, a *arena) (*structpb.Value, error) {
				if v.IsNil() {
					return a.null(), nil
				}
				return a.str(base64.StdEncoding.EncodeToString(v.Bytes())), nil
			}
		}
		list := listEncoder(t)
		return func(v reflect.Value, a *arena) (*structpb.Value, error) {
			if v.IsNil() {
				return a.null(), nil
			}
			return list(v, a)
		}
	case reflect.Array:
		return listEncoder(t)
	case reflect.String:
		return func(v reflect.Value, a *arena) (*structpb.Value, error) { return a.str(v.String()), nil }
	case reflect.Bool:
		return func(v reflect.Value, a *arena) (*structpb.Value, error) { return a.boolean(v.Bool()), nil }
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return func(v reflect.Value, a *arena) (*structpb.Value, error) { return a.number(float64(v.Int())), nil }
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return func(v reflect.Value, a *arena) (*structpb.Value, error) { return a.number(float64(v.Uint())), nil }
	case reflect.Float32, reflect.Float64:
		return func(v reflect.Value, a *arena) (*structpb.Value, error) { return a.number(v.Float()), nil }
	}
	return func(v reflect.Value, _ *arena) (*structpb.Value, error) { return viaJSON(v) }
}

func listEncoder(t reflect.Type) encoder {
	elem := encoderFor(t.Elem())
	return func(v reflect.Value, a *arena) (*structpb.Value, error) {
		vals := make([]*structpb.Value, v.Len())
		for i := range vals {
			e, err := elem(v.Index(i), a)
			if err != nil {
				return nil, err
			}
			vals[i] = e
		}
		return a.list(vals), nil
	}
}

// field is one JSON field of a struct with what encoding it needs.
type field struct {
	name      string
	index     []int
	omitEmpty bool
	empty     func(reflect.Value) bool
	enc       encoder
}

func structEncoder(t reflect.Type) encoder {
	infos := fieldsOf(t)
	fields := make([]field, len(infos))
	for i, fi := range infos {
		ft := t.FieldByIndex(fi.index).Type
		fields[i] = field{name: fi.name, index: fi.index, omitEmpty: fi.omitEmpty, empty: emptyFunc(ft), enc: encoderFor(ft)}
	}
	return func(v reflect.Value, a *arena) (*structpb.Value, error) {
		// Most fields are empty and omitted (ObjectMeta has 17): the
		// encoded ones wait on the arena's stack so the map is made at its
		// size; nested structs push above them and pop before returning.
		base := len(a.stack)
		for i := range fields {
			f := &fields[i]
			fv, ok := fieldByIndex(v, f.index)
			if !ok || (f.omitEmpty && f.empty(fv)) {
				continue
			}
			e, err := f.enc(fv, a)
			if err != nil {
				a.stack = a.stack[:base]
				return nil, err
			}
			a.stack = append(a.stack, namedValue{f.name, e})
		}
		out := make(map[string]*structpb.Value, len(a.stack)-base)
		for _, kv := range a.stack[base:] {
			out[kv.name] = kv.value
		}
		a.stack = a.stack[:base]
		return a.object(out), nil
	}
}

// viaJSON encodes what has its own JSON form (times, quantities) through it.
func viaJSON(v reflect.Value) (*structpb.Value, error) {
	b, err := json.Marshal(v.Interface())
	if err != nil {
		return nil, err
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return structpb.NewValue(out)
}

type fieldInfo struct {
	name      string
	index     []int
	omitEmpty bool
}

// fieldsOf lists a struct's JSON fields, embedded structs without a JSON
// name inlined, as encoding/json does. Called once per type.
func fieldsOf(t reflect.Type) []fieldInfo {
	var out []fieldInfo
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" || (!sf.IsExported() && !sf.Anonymous) {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := sf.Type
		if sf.Anonymous && name == "" {
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for _, f := range fieldsOf(ft) {
					out = append(out, fieldInfo{name: f.name, index: append([]int{i}, f.index...), omitEmpty: f.omitEmpty})
				}
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		out = append(out, fieldInfo{name: name, index: []int{i}, omitEmpty: strings.Contains(","+opts+",", ",omitempty,")})
	}
	return out
}

// fieldByIndex is v.FieldByIndex that reports a nil embedded pointer
// instead of panicking.
func fieldByIndex(v reflect.Value, index []int) (reflect.Value, bool) {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}, false
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v, true
}

// emptyFunc is encoding/json's omitempty test for values of type t, plus,
// as the unstructured converter does, a zero value of a type that says so
// (metav1.Time).
func emptyFunc(t reflect.Type) func(reflect.Value) bool {
	switch t.Kind() {
	case reflect.Struct:
		switch {
		case t.Implements(zeroer):
			return func(v reflect.Value) bool { return v.Interface().(interface{ IsZero() bool }).IsZero() }
		case reflect.PointerTo(t).Implements(zeroer):
			return func(v reflect.Value) bool {
				return v.CanAddr() && v.Addr().Interface().(interface{ IsZero() bool }).IsZero()
			}
		}
		return func(reflect.Value) bool { return false }
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return func(v reflect.Value) bool { return v.Len() == 0 }
	case reflect.Bool:
		return func(v reflect.Value) bool { return !v.Bool() }
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return func(v reflect.Value) bool { return v.Int() == 0 }
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return func(v reflect.Value) bool { return v.Uint() == 0 }
	case reflect.Float32, reflect.Float64:
		return func(v reflect.Value) bool { return v.Float() == 0 }
	case reflect.Interface, reflect.Pointer:
		return func(v reflect.Value) bool { return v.IsNil() }
	}
	return func(reflect.Value) bool { return false }
}

// arena hands out protobuf Values from slabs, one set per RunFunction
// call: a three-node XDatabase's desired state is about 800 Values, each
// with a oneof wrapper; two allocations apiece were a third of the
// function's garbage. The slabs live as long as the response does.
type arena struct {
	// stack holds the fields of the structs being encoded.
	stack   []namedValue
	vals    []structpb.Value
	strs    []structpb.Value_StringValue
	nums    []structpb.Value_NumberValue
	bools   []structpb.Value_BoolValue
	objects []structpb.Value_StructValue
	structs []structpb.Struct
	lists   []structpb.Value_ListValue
	lvs     []structpb.ListValue
}

type namedValue struct {
	name  string
	value *structpb.Value
}

// take returns the next element of a slab, starting one of n elements
// when empty. Slabs are sized by how many of each a database uses (mostly
// strings and objects), so little of them is wasted on small ones.
func take[T any](s *[]T, n int) *T {
	if len(*s) == 0 {
		*s = make([]T, n)
	}
	p := &(*s)[0]
	*s = (*s)[1:]
	return p
}

func (a *arena) value() *structpb.Value { return take(&a.vals, 128) }

func (a *arena) null() *structpb.Value { return structpb.NewNullValue() }

func (a *arena) str(s string) *structpb.Value {
	k := take(&a.strs, 64)
	k.StringValue = s
	v := a.value()
	v.Kind = k
	return v
}

func (a *arena) number(n float64) *structpb.Value {
	k := take(&a.nums, 16)
	k.NumberValue = n
	v := a.value()
	v.Kind = k
	return v
}

func (a *arena) boolean(b bool) *structpb.Value {
	k := take(&a.bools, 8)
	k.BoolValue = b
	v := a.value()
	v.Kind = k
	return v
}

func (a *arena) object(fields map[string]*structpb.Value) *structpb.Value {
	s := take(&a.structs, 32)
	s.Fields = fields
	k := take(&a.objects, 32)
	k.StructValue = s
	v := a.value()
	v.Kind = k
	return v
}

func (a *arena) list(vals []*structpb.Value) *structpb.Value {
	l := take(&a.lvs, 8)
	l.Values = vals
	k := take(&a.lists, 8)
	k.ListValue = l
	v := a.value()
	v.Kind = k
	return v
}
