package podlogs

import (
	"errors"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)

func TestAppendRecord(t *testing.T) {
	for _, tc := range []struct {
		name    string
		time    time.Time
		stream  string
		partial bool
		content string
		want    string
	}{
		{"full stdout", t0, Stdout, false, "hello", "2026-01-02T15:04:05.000000000Z stdout F hello\n"},
		{"partial stderr", t0.Add(7), Stderr, true, "he", "2026-01-02T15:04:05.000000007Z stderr P he\n"},
		{"empty line", t0, Stdout, false, "", "2026-01-02T15:04:05.000000000Z stdout F \n"},
		{"not UTC is written UTC", t0.In(time.FixedZone("x", 3600)), Stdout, false, "a", "2026-01-02T15:04:05.000000000Z stdout F a\n"},
		{"spaces kept", t0, Stdout, false, " a  b ", "2026-01-02T15:04:05.000000000Z stdout F  a  b \n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := string(appendRecord(nil, tc.time, tc.stream, tc.partial, []byte(tc.content)))
			if got != tc.want {
				t.Errorf("appendRecord = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseRecord(t *testing.T) {
	for _, tc := range []struct {
		line    string
		want    record
		wantErr bool
	}{
		{line: "2026-01-02T15:04:05.000000000Z stdout F hello", want: record{time: t0, stream: Stdout, content: []byte("hello")}},
		{line: "2026-01-02T15:04:05.000000007Z stderr P  he ", want: record{time: t0.Add(7), stream: Stderr, partial: true, content: []byte(" he ")}},
		// Timestamps without trailing zeros, and tags with more than the first one, as
		// the kubelet reads them.
		{line: "2026-01-02T15:04:05.5Z stdout P:x y", want: record{time: t0.Add(500 * time.Millisecond), stream: Stdout, partial: true, content: []byte("y")}},
		{line: "2026-01-02T15:04:05Z stdout F ", want: record{time: t0, stream: Stdout, content: []byte{}}},
		{line: "2026-01-02T15:04:05Z stdout", wantErr: true},
		{line: "2026-01-02T15:04:05Z stdout F", wantErr: true},
		{line: "2026-01-02T15:04:05Z stdin F a", wantErr: true},
		{line: "yesterday stdout F a", wantErr: true},
		{line: `{"log":"docker json","stream":"stdout"}`, wantErr: true},
		{line: "", wantErr: true},
	} {
		t.Run(tc.line, func(t *testing.T) {
			got, err := parseRecord([]byte(tc.line))
			if tc.wantErr {
				if !errors.Is(err, errMalformed) {
					t.Fatalf("parseRecord error = %v, want errMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.time.Equal(tc.want.time) || got.stream != tc.want.stream || got.partial != tc.want.partial || string(got.content) != string(tc.want.content) {
				t.Errorf("parseRecord = %+v, want %+v", got, tc.want)
			}
			stream, partial, err := parseHeader([]byte(tc.line))
			if err != nil || stream != tc.want.stream || partial != tc.want.partial {
				t.Errorf("parseHeader = %q, %v, %v", stream, partial, err)
			}
		})
	}
}

func TestParseLogName(t *testing.T) {
	for _, tc := range []struct {
		name string
		want logName
		ok   bool
	}{
		{"0.log", logName{name: "0.log"}, true},
		{"12.log", logName{name: "12.log", restart: 12}, true},
		{"3.log.20260102-150405", logName{name: "3.log.20260102-150405", restart: 3, stamp: "20260102-150405"}, true},
		{"3.log.20260102-150405.10", logName{name: "3.log.20260102-150405.10", restart: 3, stamp: "20260102-150405", seq: 10}, true},
		{"3.log.20260102-150405.gz", logName{}, false},
		{"3.log.20260102-150405.0", logName{}, false},
		{"3.log.2026", logName{}, false},
		{"3.logs", logName{}, false},
		{"03.log", logName{}, false},
		{"-1.log", logName{}, false},
		{"x.log", logName{}, false},
		{"stdout", logName{}, false},
	} {
		got, ok := parseLogName(tc.name)
		if ok != tc.ok || got != tc.want {
			t.Errorf("parseLogName(%q) = %+v, %v; want %+v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}
