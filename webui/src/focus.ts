// Keyboard focus across re-renders. A control that a re-render removes (the revert
// confirmation after Revert, a preview after Apply) takes the focus with it to <body>,
// and Tab starts again from the top of the page. After such a change, a page moves the
// focus to what replaced it (a status message), but only when nothing else has it: a
// live update never moves a focus the user has put somewhere.
import { useEffect } from 'preact/hooks';
import type { RefObject } from 'preact';

export function focusLost(): boolean {
  const a = document.activeElement;
  return !a || a === document.body || !a.isConnected;
}

// When `when` changes to a truthy value and the focus is lost, focus `ref` (an element
// with tabIndex -1 if it is not a control).
export function useFocusIfLost(ref: RefObject<HTMLElement>, when: unknown) {
  useEffect(() => {
    if (when && ref.current && focusLost()) ref.current.focus();
  }, [when]);
}
