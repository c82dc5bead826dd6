package gsat2r.cli;

public final class T2r {
    public static void main(String[] args) {
        System.out.println("t2r");
    }
}
