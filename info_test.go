package tagseg

import (
	"errors"
	"testing"
)

func TestInfo(t *testing.T) {
	ix := openTest(t)
	in0, err := ix.Info()
	if err != nil {
		t.Fatal(err)
	}
	if in0.FormatVersion != FormatVersion || in0.Customers != 0 || in0.NextID != 0 || in0.Path != ix.Path() {
		t.Errorf("empty index: %+v", in0)
	}
	a := mustCreate(t, ix, Customer{Tags: []string{"x"}})
	mustCreate(t, ix, Customer{Tags: []string{"y", "z"}})
	if in, err := ix.Info(); err != nil || in.Tags != 3 {
		t.Errorf("with tags x, y and z: %+v, %v", in, err)
	}
	if err := ix.DeleteCustomer(a.UUID); err != nil {
		t.Fatal(err)
	}
	in, err := ix.Info()
	if err != nil {
		t.Fatal(err)
	}
	if in.Customers != 1 || in.NextID != 2 || in.TxID != in0.TxID+3 || in.Tags != 2 {
		t.Errorf("after 2 creates and a delete: %+v (before %+v)", in, in0)
	}
	ix.Close()
	if _, err := ix.Info(); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}
