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
func toStruct(o any) (*structpb.Struct, error) {
	v, err := encodeValue(reflect.ValueOf(o))
	if err != nil {
		return nil, err
	}
	s := v.GetStructValue()
	if s == nil {
		return nil, fmt.Errorf("%T does not encode to an object", o)
	}
	return s, nil
}

var (
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

func encodeValue(v reflect.Value) (*structpb.Value, error) {
	if !v.IsValid() {
		return structpb.NewNullValue(), nil
	}
	t := v.Type()
	if t.Implements(jsonMarshaler) || (v.CanAddr() && reflect.PointerTo(t).Implements(jsonMarshaler)) {
		return viaJSON(v)
	}
	if t.Kind() != reflect.Pointer && t.Implements(textMarshaler) {
		b, err := v.Interface().(encoding.TextMarshaler).MarshalText()
		if err != nil {
			return nil, err
		}
		return structpb.NewStringValue(string(b)), nil
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return structpb.NewNullValue(), nil
		}
		return encodeValue(v.Elem())
	case reflect.Struct:
		fields := map[string]*structpb.Value{}
		for _, f := range fieldsOf(t) {
			fv, ok := fieldByIndex(v, f.index)
			if !ok || (f.omitEmpty && isEmpty(fv)) {
				continue
			}
			e, err := encodeValue(fv)
			if err != nil {
				return nil, err
			}
			fields[f.name] = e
		}
		return structpb.NewStructValue(&structpb.Struct{Fields: fields}), nil
	case reflect.Map:
		if v.IsNil() {
			return structpb.NewNullValue(), nil
		}
		if t.Key().Kind() != reflect.String {
			return viaJSON(v)
		}
		fields := make(map[string]*structpb.Value, v.Len())
		for it := v.MapRange(); it.Next(); {
			e, err := encodeValue(it.Value())
			if err != nil {
				return nil, err
			}
			fields[it.Key().String()] = e
		}
		return structpb.NewStructValue(&structpb.Struct{Fields: fields}), nil
	case reflect.Slice:
		if v.IsNil() {
			return structpb.NewNullValue(), nil
		}
		if t.Elem().Kind() == reflect.Uint8 {
			return structpb.NewStringValue(base64.StdEncoding.EncodeToString(v.Bytes())), nil
		}
		fallthrough
	case reflect.Array:
		vals := make([]*structpb.Value, v.Len())
		for i := range vals {
			e, err := encodeValue(v.Index(i))
			if err != nil {
				return nil, err
			}
			vals[i] = e
		}
		return structpb.NewListValue(&structpb.ListValue{Values: vals}), nil
	case reflect.String:
		return structpb.NewStringValue(v.String()), nil
	case reflect.Bool:
		return structpb.NewBoolValue(v.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return structpb.NewNumberValue(float64(v.Int())), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return structpb.NewNumberValue(float64(v.Uint())), nil
	case reflect.Float32, reflect.Float64:
		return structpb.NewNumberValue(v.Float()), nil
	}
	return viaJSON(v)
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

var fieldCache sync.Map // reflect.Type -> []fieldInfo

// fieldsOf lists a struct's JSON fields, embedded structs without a JSON
// name inlined, as encoding/json does.
func fieldsOf(t reflect.Type) []fieldInfo {
	if f, ok := fieldCache.Load(t); ok {
		return f.([]fieldInfo)
	}
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
	fieldCache.Store(t, out)
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

// isEmpty is encoding/json's omitempty test, plus, as the unstructured
// converter does, a zero value of a type that says so (metav1.Time).
func isEmpty(v reflect.Value) bool {
	if v.Kind() == reflect.Struct {
		type zeroer interface{ IsZero() bool }
		if z, ok := v.Interface().(zeroer); ok {
			return z.IsZero()
		}
		if v.CanAddr() {
			if z, ok := v.Addr().Interface().(zeroer); ok {
				return z.IsZero()
			}
		}
	}
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool:
		return !v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return v.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return v.Float() == 0
	case reflect.Interface, reflect.Pointer:
		return v.IsNil()
	}
	return false
}
